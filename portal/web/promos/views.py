"""Offers: the promotions whose audience includes the subscriber (running ones first,
then those coming), each with its own page, its terms, dates and action."""

from flask import Blueprint, abort, make_response, url_for
from flask_login import login_required

from portal import clock
from portal.domain.errors import NotFound
from portal.domain.promos import images, promotions
from portal.extensions import db
from portal.htmx import render
from portal.models import Promotion, Service
from portal.web.context import current_account

bp = Blueprint("promos", __name__, url_prefix="/promos")


def shown_with(promotion: Promotion, image_endpoint: str) -> dict:
    """What the promotion's card shows besides the promotion (promos/_promotion.html):
    its picture's URL (from `image_endpoint`) and the add-on its action connects."""
    addon = (
        db.session.get(Service, promotion.action_service_id)
        if promotion.action_service_id
        else None
    )
    image_url = (
        url_for(image_endpoint, promotion_id=promotion.id, n=promotion.image_version)
        if promotion.has_image
        else None
    )
    return {"image_url": image_url, "addon": addon}


def picture(promotion: Promotion):
    """The picture, with the type found by decoding it; a 404 when there is none."""
    image = images.image_of(db.session, promotion)
    if image is None:
        abort(404)
    response = make_response(image.data)
    response.content_type = image.content_type
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    # Its URL changes with each new picture; personal enough to stay out of shared caches.
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.route("/")
@login_required
def index():
    today = clock.provider_today()
    offers = promotions.for_account(db.session, current_account(), today)
    return render("promos/index.html", offers=offers, today=today)


def _seen(promotion_id: int) -> Promotion:
    try:
        return promotions.seen_by(
            db.session, current_account(), promotion_id, clock.provider_today()
        )
    except NotFound:
        abort(404)


@bp.route("/<id:promotion_id>")
@login_required
def show(promotion_id: int):
    promotion = _seen(promotion_id)
    return render(
        "promos/show.html",
        promotion=promotion,
        today=clock.provider_today(),
        preview=False,
        **shown_with(promotion, "promos.image"),
    )


@bp.route("/<id:promotion_id>/image")
@login_required
def image(promotion_id: int):
    return picture(_seen(promotion_id))
