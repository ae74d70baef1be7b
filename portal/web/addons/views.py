"""Add-ons (the catalogue's services): connected ones and the rest of the catalogue;
connecting (a confirm page with the price and the start) and disconnecting.

The URL stays /services/, the word subscribers know."""

from flask import Blueprint, abort, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from portal import clock
from portal.auth_session import current_person
from portal.domain import addons, catalog
from portal.domain.errors import Refused
from portal.domain.promos import promotions
from portal.extensions import client_address, db
from portal.htmx import render
from portal.models import Service
from portal.web.actions import form_refused, perform, refused_page
from portal.web.addons.forms import ConnectForm, DisconnectForm
from portal.web.context import current_account
from portal.web.ids import MAX_ID
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


def promotion_message(refused: Refused) -> str:
    """Why a promotion's offer cannot be taken, as the subscriber reads it."""
    if refused.reason == "promotion_not_running":
        return _("This offer is not running now: it cannot be taken.")
    if refused.reason == "promotion_other_addon":
        return _("This offer is not for this service.")
    if refused.reason == "promotion_taken":
        return _("This offer has been taken on this account already: it is taken once.")
    return _("There is no such offer for your account.")


def _refusal_status(refused: Refused) -> int:
    return 404 if refused.reason == "promotion_unknown" else 409


def _promotion_id(text: str | None) -> int | None:
    """The promotion's id sent with the page or the form (None: none sent); a value that
    is no id at all is an id no promotion has (0), refused as unknown."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return 0
    value = int(text)
    return value if 1 <= value <= MAX_ID else 0


def _offer(account, addon: Service, promotion_id: int | None, today):
    """The promotion's price for the page (None: no promotion); Refused when it is not
    to be had."""
    if promotion_id is None:
        return None
    if promotion_id == 0:
        raise Refused("promotion_unknown")
    starts_on = catalog.addon_starts_on(addon, today)
    return promotions.promo_price(db.session, account, promotion_id, addon.id, starts_on, today)


def _connect_page(
    addon: Service,
    *,
    promotion_id: int | None = None,
    error: str | None = None,
    status: int = 200,
):
    account = current_account()
    today = clock.provider_today()
    problems = [problem_message(p) for p in addons.problems(account, addon, today)]
    try:
        offer = _offer(account, addon, promotion_id, today)
    except Refused as refused:
        offer = None
        problems.insert(0, promotion_message(refused))
        if status == 200:
            status = _refusal_status(refused)
    form = ConnectForm()
    form.promotion.data = str(offer.promotion.id) if offer else ""
    return render(
        "addons/connect.html",
        status=400 if problems and status == 200 else status,
        addon=addon,
        offer=offer,
        problems=problems,
        error=error,
        starts_on=catalog.addon_starts_on(addon, today),
        ends_on=addons.ends_by_a_coming_change(db.session, account, addon, today),
        today=today,
        form=form,
    )


# One rule for the page and its form: an id out of range is a 404 for either method.
@bp.route("/<id:addon_id>/connect", methods=["GET", "POST"])
@login_required
def connect(addon_id: int):
    """The confirm page (the price and the start; a promotion's price when its action
    leads here, ?promotion=N); POST connects."""
    addon = _addon(addon_id)
    if request.method == "GET":
        return _connect_page(addon, promotion_id=_promotion_id(request.args.get("promotion")))
    form = ConnectForm()
    if not form.validate_on_submit():
        return _connect_page(addon, error=first_error(form), status=400)
    promotion_id = _promotion_id(form.promotion.data)
    today = clock.provider_today()

    def connected(subscription) -> str:
        if subscription.started_on == today:
            return _("%(name)s is connected from today.", name=addon.name)
        return _("%(name)s is connected from tomorrow.", name=addon.name)

    def refused_offer(refused: Refused):
        # The page says why (its problems), and offers no form to send it again.
        return _connect_page(addon, promotion_id=promotion_id, status=_refusal_status(refused))

    return perform(
        lambda: addons.connect(
            db.session,
            current_account().id,
            addon.id,
            today,
            person_id=current_person().id,
            address=client_address(),
            promotion_id=promotion_id,
        ),
        refusals={
            catalog.AddonRefused: lambda refused: _connect_page(
                addon,
                promotion_id=promotion_id,
                error=" ".join(problem_message(p) for p in refused.problems),
                status=409,
            ),
            Refused: refused_offer,
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
