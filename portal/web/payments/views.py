"""The payments section. Its online part is a later issue; until then the page says how
to get it done today and offers the support line."""

from flask import Blueprint, current_app
from flask_login import login_required

from portal.domain import billing, clock
from portal.htmx import render
from portal.web.context import current_account

bp = Blueprint("payments", __name__, url_prefix="/pay")


@bp.route("/")
@login_required
def index():
    account = current_account()
    today = clock.local_today(current_app.config["PORTAL_TIMEZONE"])
    forecast = billing.forecast(account.balance, account.subscriptions, today)
    return render("payments/index.html", account=account, forecast=forecast)
