"""Promotions in the console, for marketing (and the admin): the list, compose and edit
a draft, its picture, the preview as a subscriber sees it, publish, withdraw, and push
it to its audience with the counts updating on the page."""

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from portal import clock
from portal.domain import catalog
from portal.domain.errors import InvalidInput, NotFound
from portal.domain.payments import amounts
from portal.domain.payments.errors import AmountError
from portal.domain.promos import images, promotions, pushing
from portal.extensions import client_address, csrf, db
from portal.htmx import is_htmx, render
from portal.models import PromotionState, Service, StaffRole, Tariff
from portal.web.promos import labels
from portal.web.promos.forms import NO_ACTION, ActionForm, ImageForm, PromotionForm
from portal.web.promos.views import picture, shown_with
from portal.web.staff.access import current_staff, requires_roles
from portal.web.validators import first_error

bp = Blueprint("promos_staff", __name__, url_prefix="/staff/promotions")

MARKETING = (StaffRole.MARKETING,)
# Room for the form's other fields and the multipart framing around the picture.
_FORM_ROOM = 16 * 1024


def _who() -> dict:
    return {"staff_id": current_staff().id, "address": client_address()}


def _districts() -> tuple[str, ...]:
    return current_app.config["PORTAL_DISTRICTS"]


def _promotion(promotion_id: int):
    try:
        return promotions.for_staff(db.session, promotion_id)
    except NotFound:
        abort(404)


def _message(exc: InvalidInput) -> str:
    code = getattr(exc, "code", None) or str(exc)
    text = labels.INPUT_MESSAGES.get(code)
    if text is None:
        return _("The form has mistakes.")
    size = current_app.config["PORTAL_PROMO_IMAGE_MAX_BYTES"] // (1024 * 1024) or 1
    return str(text) % {"size": size} if code == "too_big" else str(text)


@bp.route("/")
@requires_roles(*MARKETING)
def index():
    return render(
        "promos/staff/index.html",
        found=promotions.every(db.session),
        labels=labels,
        today=clock.provider_today(),
    )


# --- compose and edit ---------------------------------------------------------------------------


def _form() -> PromotionForm:
    return PromotionForm().offer(
        catalog.public(db.session, Tariff), _districts(), catalog.public(db.session, Service)
    )


def _draft(form: PromotionForm) -> promotions.Draft:
    return promotions.Draft(
        title=form.title.data.strip(),
        text=form.text.data.strip(),
        starts_on=form.starts_on.day,
        ends_on=form.ends_on.day,
        tariff_ids=tuple(form.tariffs.data or ()),
        districts=tuple(form.districts.data or ()),
        action_service_id=None if form.action.data == NO_ACTION else int(form.action.data),
        promo_price=_promo_price(form.promo_price.data),
        promo_months=_promo_months(form.promo_months.data),
    )


def _promo_price(text: str | None) -> int | None:
    """The promotional price typed, kopecks (None: empty); InvalidInput if no sum."""
    if not (text or "").strip():
        return None
    try:
        return amounts.parse_amount(text, minimum=0)
    except AmountError:
        raise InvalidInput("promo_price") from None


def _promo_months(text: str | None) -> int | None:
    value = (text or "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 3):
        raise InvalidInput("promo_months")
    return int(value)


def _compose_page(form, promotion=None, error=None, status=200):
    return render(
        "promos/staff/compose.html",
        status=status,
        form=form,
        promotion=promotion,
        error=error,
    )


def _save(form, promotion, save):
    """Validate the form and call `save(draft)`; the form again with the reason if not."""
    if not form.validate_on_submit():
        return _compose_page(form, promotion, first_error(form), 400)
    try:
        saved = save(_draft(form))
    except InvalidInput as exc:
        db.session.rollback()
        return _compose_page(form, promotion, _message(exc), 400)
    except promotions.NotEditable:
        db.session.rollback()
        return _compose_page(form, promotion, _("Only a draft can be changed."), 409)
    db.session.commit()
    flash(_("The draft is saved."))
    return redirect(url_for("promos_staff.show", promotion_id=saved.id), 303)


@bp.route("/new", methods=["GET", "POST"])
@requires_roles(*MARKETING)
def new():
    form = _form()
    if request.method == "GET":
        today = clock.provider_today()
        form.starts_on.data = form.starts_on.data or today.isoformat()
        return _compose_page(form)
    return _save(
        form,
        None,
        lambda draft: promotions.create(db.session, draft, known_districts=_districts(), **_who()),
    )


@bp.route("/<id:promotion_id>/edit", methods=["GET", "POST"])
@requires_roles(*MARKETING)
def edit(promotion_id: int):
    promotion = _promotion(promotion_id)
    form = _form()
    if promotion.state is not PromotionState.DRAFT:
        return _show_page(promotion, _("Only a draft can be changed."), 409)
    if request.method == "GET":
        form.fill(promotion)
        return _compose_page(form, promotion)
    return _save(
        form,
        promotion,
        lambda draft: promotions.update(
            db.session, promotion, draft, known_districts=_districts(), **_who()
        ),
    )


# --- one promotion: the preview, its picture, publish, withdraw, push ----------------------------


def _show_page(promotion, error=None, status=200, image_form=None):
    today = clock.provider_today()
    return render(
        "promos/staff/show.html",
        status=status,
        promotion=promotion,
        labels=labels,
        error=error,
        today=today,
        push=pushing.of(db.session, promotion),
        connected=promotions.connected_through(db.session, promotion.id),
        tariffs=[db.session.get(Tariff, i) for i in promotion.tariff_ids],
        # No form data read: after a body too large, reading it again would fail again.
        form=ActionForm(formdata=None),
        image_form=image_form or ImageForm(formdata=None),
        **shown_with(promotion, "promos_staff.image"),
    )


@bp.route("/<id:promotion_id>")
@requires_roles(*MARKETING)
def show(promotion_id: int):
    return _show_page(_promotion(promotion_id))


@bp.route("/<id:promotion_id>/counts")
@requires_roles(*MARKETING)
def counts(promotion_id: int):
    """The push's counts (the page polls it while the push goes on); without htmx, the
    whole page."""
    promotion = _promotion(promotion_id)
    if not is_htmx():
        return _show_page(promotion)
    return render(
        "promos/staff/show.html",
        block="push_counts",
        promotion=promotion,
        push=pushing.of(db.session, promotion),
    )


@bp.route("/<id:promotion_id>/image")
@requires_roles(*MARKETING)
def image(promotion_id: int):
    return picture(_promotion(promotion_id))


# A path of its own: on one path with the GET above, an id out of range would be a 405.
@bp.route("/<id:promotion_id>/image/upload", methods=["POST"])
@csrf.exempt  # the form checks its own token: the global check would read the body first
@requires_roles(*MARKETING)
def upload_image(promotion_id: int):
    promotion = _promotion(promotion_id)
    max_bytes = current_app.config["PORTAL_PROMO_IMAGE_MAX_BYTES"]
    # Only this form may be large: every other keeps the small global limit.
    request.max_content_length = max_bytes + _FORM_ROOM
    try:
        form = ImageForm()
        valid = form.validate_on_submit()
    except RequestEntityTooLarge:
        return _show_page(promotion, _message(images.InvalidImage("too_big")), 413)
    if not valid:
        return _show_page(promotion, first_error(form) or _expired(), 400, form)
    data = form.image.data.read(max_bytes + 1)
    try:
        images.set_image(db.session, promotion, data, max_bytes=max_bytes, **_who())
    except images.InvalidImage as exc:
        db.session.rollback()
        return _show_page(promotion, _message(exc), 413 if exc.code == "too_big" else 400, form)
    except promotions.NotEditable:
        db.session.rollback()
        return _show_page(promotion, _("Only a draft can be changed."), 409)
    db.session.commit()
    flash(_("The picture is saved."))
    return redirect(url_for("promos_staff.show", promotion_id=promotion.id), 303)


def _expired() -> str:
    return _("The form has expired. Reload the page and try again.")


def _action(promotion_id: int, do, done: str):
    """A button of the promotion's page: `do(promotion)`, then back to the page."""
    promotion = _promotion(promotion_id)
    if not ActionForm().validate_on_submit():
        return _show_page(promotion, _expired(), 400)
    try:
        do(promotion)
    except InvalidInput as exc:
        db.session.rollback()
        return _show_page(promotion, _message(exc), 400)
    except (promotions.InvalidTransition, promotions.NotEditable):
        db.session.rollback()
        message = _("The promotion is %(state)s: that cannot be done now.")
        return _show_page(promotion, message % {"state": labels.STATES[promotion.state]}, 409)
    except pushing.NotRunning:
        db.session.rollback()
        return _show_page(promotion, _("Only a published promotion is pushed, on its days."), 409)
    except pushing.AlreadyPushed:
        db.session.rollback()
        return _show_page(promotion, _("This promotion has been pushed already."), 409)
    db.session.commit()
    flash(done)
    return redirect(url_for("promos_staff.show", promotion_id=promotion.id), 303)


@bp.route("/<id:promotion_id>/image/remove", methods=["POST"])
@requires_roles(*MARKETING)
def remove_image(promotion_id: int):
    return _action(
        promotion_id,
        lambda p: images.remove_image(db.session, p, **_who()),
        _("The picture is removed."),
    )


@bp.route("/<id:promotion_id>/publish", methods=["POST"])
@requires_roles(*MARKETING)
def publish(promotion_id: int):
    return _action(
        promotion_id,
        lambda p: promotions.move(
            db.session, p, PromotionState.PUBLISHED, clock.provider_today(), **_who()
        ),
        _("The promotion is published."),
    )


@bp.route("/<id:promotion_id>/withdraw", methods=["POST"])
@requires_roles(*MARKETING)
def withdraw(promotion_id: int):
    return _action(
        promotion_id,
        lambda p: promotions.move(
            db.session, p, PromotionState.WITHDRAWN, clock.provider_today(), **_who()
        ),
        _("The promotion is withdrawn."),
    )


@bp.route("/<id:promotion_id>/push", methods=["POST"])
@requires_roles(*MARKETING)
def push(promotion_id: int):
    return _action(
        promotion_id,
        lambda p: pushing.start(db.session, p, clock.provider_today(), **_who()),
        _("The push has started."),
    )
