"""The catalogue's rules in words: why an add-on cannot be connected. Onboarding says it
now; the subscriber's add-ons page will say it the same way."""

from flask_babel import gettext as _

from portal.domain.catalog import AddonProblem, AddonProblemKind
from portal.models import Service

_REASONS = {
    AddonProblemKind.ARCHIVED: lambda item: _("is archived"),
    AddonProblemKind.CONNECTED: lambda item: _("is connected already"),
    AddonProblemKind.REQUIRES_GROUP: lambda item: _(
        "needs a tariff of the group “%(name)s”", name=item.name
    ),
    AddonProblemKind.REQUIRES_TARIFF: lambda item: _("needs the tariff “%(name)s”", name=item.name),
    AddonProblemKind.EXCLUDED: lambda item: _(
        "cannot be held together with “%(name)s”", name=item.name
    ),
}


def addon_refusal(addon: Service, problems: list[AddonProblem]) -> str:
    """“Static IP”: needs a tariff of the group “Home internet”."""
    reasons = "; ".join(_REASONS[p.kind](p.item) for p in problems)
    return _("“%(addon)s”: %(reasons)s.", addon=addon.name, reasons=reasons)
