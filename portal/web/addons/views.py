"""Add-ons (the catalogue's services): connected ones and the rest of the catalogue.

The URL stays /services/, the word subscribers know."""

from flask import Blueprint
from flask_login import login_required

from portal import clock
from portal.domain import catalog
from portal.extensions import db
from portal.htmx import render
from portal.models import Service
from portal.web.context import current_account

bp = Blueprint("addons", __name__, url_prefix="/services")


@bp.route("/")
@login_required
def index():
    offer = catalog.offer(db.session, current_account(), Service, clock.provider_today())
    return render("addons/index.html", offer=offer)
