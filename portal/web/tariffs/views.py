"""Tariffs: what the account has and what the provider offers."""

from flask import Blueprint
from flask_login import login_required

from portal import clock
from portal.domain import catalog
from portal.extensions import db
from portal.htmx import render
from portal.models import Tariff, TariffKind
from portal.web.context import current_account

bp = Blueprint("tariffs", __name__, url_prefix="/tariffs")


@bp.route("/")
@login_required
def index():
    offer = catalog.offer(db.session, current_account(), Tariff, clock.provider_today())
    return render("tariffs/index.html", offer=offer, kinds=list(TariffKind))
