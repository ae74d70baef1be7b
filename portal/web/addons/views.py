"""Add-ons (the catalogue's services): connected ones and the rest of the catalogue;
connecting (a confirm page with the price and the start) and disconnecting.

The URL stays /services/, the word subscribers know."""

from flask import Blueprint, abort, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from portal import clock
from portal.auth_session import current_person
from portal.domain import addons, catalog
from portal.extensions import client_address, db
from portal.htmx import render
from portal.models import Service
from portal.web.actions import form_refused, perform, refused_page
from portal.web.addons.forms import ConnectForm, DisconnectForm
from portal.web.context import current_account
from portal.web.validators import first_error

bp = Blueprint("addons", __name__, url_prefix="/services")


def problem_message(problem: catalog.AddonProblem) -> str:
    """One reason an add-on cannot be connected, as the subscriber reads it."""
    kind, item = problem.kind, problem.item
    if kind is catalog.AddonProblemKind.ARCHIVED:
        return _("This service is no longer offered.")
    if kind is catalog.AddonProblemKind.CONNECTED:
        return _("You have this service already.")
    if kind is catalog.AddonProblemKind.REQUIRES_GROUP:
        return _("Needs a tariff of the group %(name)s.", name=item.name)
    if kind is catalog.AddonProblemKind.REQUIRES_TARIFF:
        return _("Needs the tariff %(name)s.", name=item.name)
    return _("Cannot be held with %(name)s.", name=item.name)


@bp.route("/")
@login_required
def index():
    account = current_account()
    today = clock.provider_today()
    offer = catalog.offer(db.session, account, Service, today)
    held = addons.held(account, today)
    held_ids = {h.service.id for h in held}
    others = [
        (addon, [problem_message(p) for p in addons.problems(account, addon, today)])
        for addon in offer.catalogue
        if addon.id not in held_ids
    ]
    return render(
        "addons/index.html",
        held=held,
        others=others,
        today=today,
        form=DisconnectForm(),
    )


def _addon(addon_id: int) -> Service:
    addon = db.session.get(Service, addon_id)
    if addon is None:
        abort(404)
    return addon


def _connect_page(addon: Service, *, error: str | None = None, status: int = 200):
    account = current_account()
    today = clock.provider_today()
    problems = [problem_message(p) for p in addons.problems(account, addon, today)]
    return render(
        "addons/connect.html",
        status=400 if problems and status == 200 else status,
        addon=addon,
        problems=problems,
        error=error,
        starts_on=catalog.addon_starts_on(addon, today),
        ends_on=addons.ends_by_a_coming_change(db.session, account, addon, today),
        today=today,
        form=ConnectForm(),
    )


# One rule for the page and its form: an id out of range is a 404 for either method.
@bp.route("/<id:addon_id>/connect", methods=["GET", "POST"])
@login_required
def connect(addon_id: int):
    """The confirm page (the price and the start); POST connects."""
    addon = _addon(addon_id)
    if request.method == "GET":
        return _connect_page(addon)
    form = ConnectForm()
    if not form.validate_on_submit():
        return _connect_page(addon, error=first_error(form), status=400)
    today = clock.provider_today()

    def connected(subscription) -> str:
        if subscription.started_on == today:
            return _("%(name)s is connected from today.", name=addon.name)
        return _("%(name)s is connected from tomorrow.", name=addon.name)

    return perform(
        lambda: addons.connect(
            db.session,
            current_account().id,
            addon.id,
            today,
            person_id=current_person().id,
            address=client_address(),
        ),
        refusals={
            catalog.AddonRefused: lambda refused: _connect_page(
                addon,
                error=" ".join(problem_message(p) for p in refused.problems),
                status=409,
            )
        },
        done=connected,
        to=url_for(".index"),
    )


@bp.route("/connected/<id:subscription_id>/disconnect", methods=["POST"])
@login_required
def disconnect(subscription_id: int):
    """End one's own add-on today; someone else's is a 404."""
    return form_refused(DisconnectForm()) or perform(
        lambda: addons.disconnect(
            db.session,
            current_account().id,
            subscription_id,
            clock.provider_today(),
            person_id=current_person().id,
            address=client_address(),
        ),
        refusals={
            addons.NotConnected: lambda _refused: refused_page(409)(
                _("This service is disconnected already.")
            )
        },
        done=lambda addon: _("%(name)s is disconnected: today is its last day.", name=addon.name),
        to=url_for(".index"),
    )
