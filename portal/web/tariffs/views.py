"""Tariffs: what the account has and what the provider offers."""

import sqlalchemy as sa
from flask import Blueprint
from flask_login import login_required

from portal import clock
from portal.domain import billing
from portal.extensions import db
from portal.htmx import render
from portal.models import Tariff
from portal.web.context import current_account

bp = Blueprint("tariffs", __name__, url_prefix="/tariffs")


@bp.route("/")
@login_required
def index():
    account = current_account()
    today = clock.provider_today()
    current = [s.tariff for s in account.subscriptions if s.tariff and billing.is_running(s, today)]
    offered = db.session.scalars(
        sa.select(Tariff).where(Tariff.is_public).order_by(Tariff.kind, Tariff.monthly_price)
    ).all()
    return render("tariffs/index.html", account=account, current=current, offered=offered)
