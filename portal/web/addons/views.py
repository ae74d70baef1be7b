"""Add-ons (the catalogue's services): connected ones and the rest of the catalogue.

The URL stays /services/, the word subscribers know."""

import sqlalchemy as sa
from flask import Blueprint
from flask_login import login_required

from portal import clock
from portal.domain import billing
from portal.extensions import db
from portal.htmx import render
from portal.models import Service
from portal.web.context import current_account

bp = Blueprint("addons", __name__, url_prefix="/services")


@bp.route("/")
@login_required
def index():
    account = current_account()
    today = clock.provider_today()
    connected = [
        s.service for s in account.subscriptions if s.service and billing.is_running(s, today)
    ]
    offered = db.session.scalars(
        sa.select(Service).where(Service.is_public).order_by(Service.monthly_price)
    ).all()
    return render(
        "addons/index.html",
        account=account,
        connected=connected,
        offered=[s for s in offered if s not in connected],
    )
