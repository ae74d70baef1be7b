"""The catalogue in the console: the lists of groups, tariffs and add-ons with their
prices, rules and holders; forms to create and edit them; archive and offer again.

The admin keeps the catalogue (prices and rules are the provider's decision); operators,
accountants and marketing read it, to answer subscribers and to plan promotions.
"""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from portal import clock
from portal.domain import audit, catalog, catalog_keeping
from portal.domain.catalog import is_archived
from portal.extensions import client_address, db
from portal.htmx import render
from portal.models import AddonStart, Service, StaffRole, Tariff, TariffGroup, TariffKind
from portal.web.catalog.forms import (
    CODE_HINT,
    STARTS,
    TAKES_EFFECT,
    AddonForm,
    ArchiveForm,
    GroupForm,
    TariffForm,
    show_problems,
)
from portal.web.ids import id_arg
from portal.web.staff.access import current_staff, may_open, requires_roles
from portal.web.validators import first_error

bp = Blueprint("catalog_staff", __name__, url_prefix="/staff/catalogue")

READERS = (StaffRole.OPERATOR, StaffRole.ACCOUNTANT, StaffRole.MARKETING)
EDITORS = (StaffRole.ADMIN,)


def _who() -> dict:
    return {"actor": audit.staff_actor(current_staff().id), "address": client_address()}


def _get_or_404(model, item_id: int):
    item = db.session.get(model, item_id)
    if item is None:
        abort(404)
    return item


def _labels() -> dict:
    """What the lists show for the rules' codes."""
    return {"takes_effect_labels": TAKES_EFFECT, "starts_labels": STARTS}


# --- the lists -------------------------------------------------------------------------


@bp.route("/")
@requires_roles(*READERS)
def index():
    """Groups and their tariffs, internet then TV; tariffs in no group apart."""
    return _tariffs_page()


def _tariffs_page(error: str | None = None, status: int = 200):
    seen = catalog_keeping.overview(db.session, clock.provider_today())
    return render(
        "catalog/staff/index.html",
        status=status,
        seen=seen,
        kinds=list(TariffKind),
        error=error,
        editor=may_open("catalog_staff.new_tariff"),
        **_labels(),
    )


@bp.route("/addons")
@requires_roles(*READERS)
def addons():
    """The add-ons: price, start, what each requires and excludes, who has it."""
    return _addons_page()


def _addons_page(error: str | None = None, status: int = 200):
    seen = catalog_keeping.overview(db.session, clock.provider_today())
    return render(
        "catalog/staff/addons.html",
        status=status,
        seen=seen,
        excluded=catalog.excluded,
        error=error,
        editor=may_open("catalog_staff.new_addon"),
        **_labels(),
    )


# --- groups ------------------------------------------------------------------------------


@bp.route("/groups/new", methods=["GET", "POST"])
@requires_roles(*EDITORS)
def new_group():
    form = GroupForm().offer()
    if request.method == "GET":
        form.kind.data = request.args.get("kind", TariffKind.INTERNET.value)
    return _save(
        form,
        "catalog/staff/group.html",
        lambda typed: catalog_keeping.create_group(db.session, typed, **_who()),
        None,
        "group",
    )


@bp.route("/groups/<id:group_id>", methods=["GET", "POST"])
@requires_roles(*EDITORS)
def edit_group(group_id: int):
    group = _get_or_404(TariffGroup, group_id)
    form = GroupForm().offer()
    if request.method == "GET":
        form.fill(group)
    return _save(
        form,
        "catalog/staff/group.html",
        lambda typed: catalog_keeping.update_group(db.session, group, typed, **_who()),
        group,
        "group",
    )


@bp.route("/groups/<id:group_id>/archive", methods=["POST"])
@requires_roles(*EDITORS)
def archive_group(group_id: int):
    return _archive(_get_or_404(TariffGroup, group_id))


# --- tariffs -----------------------------------------------------------------------------


def _tariff_form(tariff: Tariff | None) -> TariffForm:
    groups = catalog_keeping.offered_groups(db.session)
    if tariff is not None and tariff.group is not None and tariff.group not in groups:
        groups.append(tariff.group)  # its own archived group stays a choice
    return TariffForm().offer(groups, tariff.kind if tariff is not None else None)


@bp.route("/tariffs/new", methods=["GET", "POST"])
@requires_roles(*EDITORS)
def new_tariff():
    form = _tariff_form(None)
    if request.method == "GET":
        # "Add a tariff" of a group comes with the group and its kind.
        group_id = id_arg("group")
        group = db.session.get(TariffGroup, group_id) if group_id is not None else None
        form.group.data = str(group.id) if group is not None else ""
        form.kind.data = group.kind.value if group is not None else TariffKind.INTERNET.value
    return _save(
        form,
        "catalog/staff/tariff.html",
        lambda typed: catalog_keeping.create_tariff(db.session, typed, **_who()),
        None,
        "tariff",
    )


@bp.route("/tariffs/<id:tariff_id>", methods=["GET", "POST"])
@requires_roles(*EDITORS)
def edit_tariff(tariff_id: int):
    tariff = _get_or_404(Tariff, tariff_id)
    form = _tariff_form(tariff)
    if request.method == "GET":
        form.fill(tariff)
    return _save(
        form,
        "catalog/staff/tariff.html",
        lambda typed: catalog_keeping.update_tariff(db.session, tariff, typed, **_who()),
        tariff,
        "tariff",
    )


@bp.route("/tariffs/<id:tariff_id>/archive", methods=["POST"])
@requires_roles(*EDITORS)
def archive_tariff(tariff_id: int):
    return _archive(_get_or_404(Tariff, tariff_id))


# --- add-ons -----------------------------------------------------------------------------


def _addon_form(addon: Service | None) -> AddonForm:
    groups = catalog_keeping.offered_groups(db.session)
    tariffs = catalog.public(db.session, Tariff)
    if addon is not None:
        # What it requires stays a choice when archived since (and so is kept on saving).
        if addon.requires_group is not None and addon.requires_group not in groups:
            groups.append(addon.requires_group)
        if addon.requires_tariff is not None and addon.requires_tariff not in tariffs:
            tariffs.append(addon.requires_tariff)
    seen = catalog_keeping.overview(db.session, clock.provider_today())
    others = [a for a in seen.addons if addon is None or a.id != addon.id]
    return AddonForm().offer(groups, tariffs, others)


@bp.route("/addons/new", methods=["GET", "POST"])
@requires_roles(*EDITORS)
def new_addon():
    form = _addon_form(None)
    if request.method == "GET":
        form.starts.data = AddonStart.TOMORROW.value
    return _save(
        form,
        "catalog/staff/addon.html",
        lambda typed: catalog_keeping.create_addon(db.session, typed, **_who()),
        None,
        "addon",
    )


@bp.route("/addons/<id:addon_id>", methods=["GET", "POST"])
@requires_roles(*EDITORS)
def edit_addon(addon_id: int):
    addon = _get_or_404(Service, addon_id)
    form = _addon_form(addon)
    if request.method == "GET":
        form.fill(addon, catalog.excluded(addon))
    return _save(
        form,
        "catalog/staff/addon.html",
        lambda typed: catalog_keeping.update_addon(db.session, addon, typed, **_who()),
        addon,
        "addon",
    )


@bp.route("/addons/<id:addon_id>/archive", methods=["POST"])
@requires_roles(*EDITORS)
def archive_addon(addon_id: int):
    return _archive(_get_or_404(Service, addon_id))


# --- one way to save and to archive ------------------------------------------------------


def _back(item) -> str:
    """The list an item is shown in, at the item."""
    if isinstance(item, Service):
        return url_for("catalog_staff.addons", _anchor=f"addon-{item.id}")
    what = "group" if isinstance(item, TariffGroup) else "tariff"
    return url_for("catalog_staff.index", _anchor=f"{what}-{item.id}")


def _save(form, template: str, write, item, name: str):
    """Parse the form, let the domain check and write (create when `item` is None),
    answer: the form again with what is wrong (400), or back to the list at the item.
    The template knows the item as `name`."""
    context = {"form": form, "code_hint": CODE_HINT, name: item}
    if request.method == "GET":
        return render(template, block="item_form", **context)
    if not form.validate_on_submit():  # the CSRF token: the rest is the domain's
        return render(template, block="item_form", status=400, expired=True, **context)
    try:
        result = write(form.typed())
    except catalog_keeping.Invalid as exc:
        db.session.rollback()
        show_problems(form, exc.problems)
        return render(template, block="item_form", status=400, **context)
    db.session.commit()
    if item is None:
        flash(_("Created: “%(name)s”.", name=result.name))
        return redirect(_back(result), 303)
    flash(_("Saved: “%(name)s”.", name=item.name) if result else _("Nothing changed."))
    return redirect(_back(item), 303)


_REFUSALS = {
    "group_has_tariffs": lambda names: _(
        "Archive the group's tariffs first: %(names)s.", names=names
    ),
    "group_archived": lambda names: _(
        "Its group “%(names)s” is archived: offer the group again first.", names=names
    ),
    "requirement_archived": lambda names: _(
        "It requires “%(names)s”, which is archived.", names=names
    ),
}


def _archive(item):
    """Archive the item, or offer it again; refused in words on the list (400)."""
    page = _addons_page if isinstance(item, Service) else _tariffs_page
    form = ArchiveForm()
    if not form.validate_on_submit():
        return page(error=first_error(form) or _("Choose what to do."), status=400)
    archive = form.archived.data == "yes"
    act = catalog_keeping.archive if archive else catalog_keeping.unarchive
    try:
        changed = act(db.session, item, **_who())
    except catalog_keeping.Refused as exc:
        db.session.rollback()
        return page(error=_REFUSALS[exc.why](", ".join(exc.names)), status=400)
    db.session.commit()
    if not changed:
        flash(_("Nothing changed: “%(name)s” was so already.", name=item.name))
    elif is_archived(item):
        flash(
            _("Archived: “%(name)s”. Whoever has it keeps it; it is not offered.", name=item.name)
        )
    else:
        flash(_("Offered again: “%(name)s”.", name=item.name))
    return redirect(_back(item), 303)
