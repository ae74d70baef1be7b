"""The catalogue's forms in the console. They carry what was typed (and the CSRF token);
every rule on it (present, not too long, a sum, a code, a group of the right kind) is the
domain's (portal.domain.catalog_keeping), which names every problem at once, and
`show_problems` puts them on the fields in the reader's language."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired
from wtforms.widgets import CheckboxInput, ListWidget

from portal.domain import catalog_keeping as keeping
from portal.domain.payments.amounts import format_plain
from portal.models import AddonStart, Service, TakesEffect, Tariff, TariffGroup, TariffKind
from portal.web.filters import tariff_kind
from portal.web.forms import Form
from portal.web.validators import TOO_LONG

CODE_HINT = _l("Latin letters, digits, “.”, “_” or “-”, up to 32 characters.")


def _code_field():
    return StringField(_l("Code"))


def _money_field(label):
    return StringField(label)


def _number_field(label):
    return StringField(label)


def _choice_field(label):
    # Any value is taken here: the domain refuses one that is not offered, in our words.
    return SelectField(label, validate_choice=False)


def _archived_mark(item, label) -> str:
    """An archived item's label says so (it is a choice only where it is kept)."""
    return str(label) if item.archived_at is None else _l("%(name)s (archived)", name=label)


def _kinds():
    return [(kind.value, tariff_kind(kind)) for kind in TariffKind]


class GroupForm(Form):
    code = _code_field()
    name = StringField(_l("Name shown to subscribers"))
    kind = _choice_field(_l("Kind"))
    fee_up = _money_field(_l("Fee for a change to a dearer tariff, ₽"))
    fee_down = _money_field(_l("Fee for a change to a cheaper tariff, ₽"))
    fee_same = _money_field(_l("Fee for a change to a tariff of the same price, ₽"))
    changes_per_month = _number_field(_l("Changes a month (empty: no limit)"))

    def offer(self) -> "GroupForm":
        self.kind.choices = _kinds()
        return self

    def fill(self, group: TariffGroup) -> "GroupForm":
        """The group's values, to edit."""
        self.code.data, self.name.data, self.kind.data = group.code, group.name, group.kind.value
        self.fee_up.data = format_plain(group.fee_up)
        self.fee_down.data = format_plain(group.fee_down)
        self.fee_same.data = format_plain(group.fee_same)
        self.changes_per_month.data = str(group.changes_per_month or "")
        return self

    def typed(self) -> keeping.GroupInput:
        return keeping.GroupInput(
            code=self.code.data,
            name=self.name.data,
            kind=self.kind.data or "",
            fee_up=self.fee_up.data or "0",
            fee_down=self.fee_down.data or "0",
            fee_same=self.fee_same.data or "0",
            changes_per_month=self.changes_per_month.data or "",
        )


TAKES_EFFECT = {
    TakesEffect.NEXT_MONTH: _l("On the first day of next month"),
    TakesEffect.TODAY: _l("At once, on the day it is chosen"),
}
STARTS = {AddonStart.TOMORROW: _l("Tomorrow"), AddonStart.TODAY: _l("Today")}


class TariffForm(Form):
    code = _code_field()
    name = StringField(_l("Name shown to subscribers"))
    kind = _choice_field(_l("Kind"))
    group = _choice_field(_l("Group"))
    monthly_price = _money_field(_l("Price a month, ₽"))
    speed_mbps = _number_field(_l("Speed, Mbit/s (internet)"))
    channels = _number_field(_l("Channels (TV)"))
    takes_effect = _choice_field(_l("A change to this tariff takes effect"))
    description = TextAreaField(_l("What is included"))

    def offer(self, groups: list[TariffGroup], kind: TariffKind | None = None) -> "TariffForm":
        """The choices: the groups (of `kind` when it is fixed) with the kind in the label."""
        self.kind.choices = _kinds()
        self.group.choices = [("", _l("None: the subscriber cannot change this tariff"))] + [
            (str(g.id), _archived_mark(g, f"{g.name} ({tariff_kind(g.kind)})"))
            for g in groups
            if kind is None or g.kind is kind
        ]
        self.takes_effect.choices = [(key.value, label) for key, label in TAKES_EFFECT.items()]
        return self

    def fill(self, tariff: Tariff) -> "TariffForm":
        self.code.data, self.name.data, self.kind.data = tariff.code, tariff.name, tariff.kind.value
        self.group.data = str(tariff.group_id or "")
        self.monthly_price.data = format_plain(tariff.monthly_price)
        self.speed_mbps.data = str(tariff.speed_mbps or "")
        self.channels.data = str(tariff.channels or "")
        self.takes_effect.data = tariff.takes_effect.value
        self.description.data = tariff.description
        return self

    def typed(self) -> keeping.TariffInput:
        return keeping.TariffInput(
            code=self.code.data,
            name=self.name.data,
            kind=self.kind.data or "",
            monthly_price=self.monthly_price.data,
            description=self.description.data or "",
            group=self.group.data or "",
            speed_mbps=self.speed_mbps.data or "",
            channels=self.channels.data or "",
            takes_effect=self.takes_effect.data or "",
        )


class AddonForm(Form):
    code = _code_field()
    name = StringField(_l("Name shown to subscribers"))
    monthly_price = _money_field(_l("Price a month, ₽"))
    starts = _choice_field(_l("Starts"))
    requires = _choice_field(_l("Requires"))
    excludes = SelectMultipleField(
        _l("Cannot be held together with"),
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    description = TextAreaField(_l("What is included"))

    def offer(
        self, groups: list[TariffGroup], tariffs: list[Tariff], addons: list[Service]
    ) -> "AddonForm":
        """The choices: what may be required, the add-ons it may exclude (not itself)."""
        self.starts.choices = [(key.value, label) for key, label in STARTS.items()]
        self.requires.choices = (
            [("", _l("Nothing"))]
            + [
                (f"group:{g.id}", _archived_mark(g, _l("Any tariff of “%(name)s”", name=g.name)))
                for g in groups
            ]
            + [
                (f"tariff:{t.id}", _archived_mark(t, _l("The tariff “%(name)s”", name=t.name)))
                for t in tariffs
            ]
        )
        self.excludes.choices = [(str(a.id), _archived_mark(a, a.name)) for a in addons]
        return self

    def fill(self, addon: Service, excluded: list[Service]) -> "AddonForm":
        self.code.data, self.name.data = addon.code, addon.name
        self.monthly_price.data = format_plain(addon.monthly_price)
        self.starts.data = addon.starts.value
        if addon.requires_group_id:
            self.requires.data = f"group:{addon.requires_group_id}"
        elif addon.requires_tariff_id:
            self.requires.data = f"tariff:{addon.requires_tariff_id}"
        else:
            self.requires.data = ""
        self.excludes.data = [str(a.id) for a in excluded]
        self.description.data = addon.description
        return self

    def typed(self) -> keeping.AddonInput:
        return keeping.AddonInput(
            code=self.code.data,
            name=self.name.data,
            monthly_price=self.monthly_price.data,
            description=self.description.data or "",
            starts=self.starts.data or "",
            requires=self.requires.data or "",
            excludes=tuple(self.excludes.data or ()),
        )


class ArchiveForm(Form):
    """Archive ("yes") or offer again ("no")."""

    archived = StringField(
        validators=[
            InputRequired(_l("Choose what to do.")),
            AnyOf(("yes", "no"), message=_l("Choose what to do.")),
        ]
    )


# The domain's problem codes, in the reader's language; "required" says what to enter.
REQUIRED = {
    "code": _l("Enter the code."),
    "name": _l("Enter the title."),
    "monthly_price": _l("Enter the price."),
    "speed_mbps": _l("Enter the speed."),
    "channels": _l("Enter the number of channels."),
}
PROBLEMS = {
    "required": _l("Fill this in."),
    "too_long": TOO_LONG,
    "unprintable": _l("Contains characters that cannot be typed."),
    "code": CODE_HINT,
    "code_taken": _l("This code is taken."),
    "money": _l("Type a sum in roubles, like 650 or 650,50."),
    "too_large": _l("At most 1 000 000 ₽."),
    "number": _l("A whole number from 1 to %(max)d."),
    "not_for_kind": _l("Leave this empty for a tariff of this kind."),
    "choice": _l("Choose from the list."),
    "unknown": _l("Choose from the list."),
    "group_kind": _l("This group holds tariffs of another kind."),
    "group_archived": _l("This group is archived."),
    "requirement_archived": _l("This is archived: choose what is offered."),
    "self": _l("An add-on cannot exclude itself."),
}
# The largest value (or length) a field takes, for the messages that say it.
LIMITS = {
    "code": 32,
    "name": keeping.NAME_MAX,
    "description": keeping.DESCRIPTION_MAX,
    "speed_mbps": keeping.SPEED_MAX,
    "channels": keeping.CHANNELS_MAX,
    "changes_per_month": keeping.CHANGES_MAX,
}


def show_problems(form: Form, problems: dict[str, str]) -> None:
    """Put the domain's problems on the form's fields."""
    for name, code in problems.items():
        text = REQUIRED.get(name) if code == "required" else None
        text = text or PROBLEMS.get(code, PROBLEMS["choice"])
        message = str(text) % {"max": LIMITS.get(name, 0)} if "%(max)" in str(text) else str(text)
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message]
