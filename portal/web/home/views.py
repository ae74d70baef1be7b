"""The account home: balance, status, tariffs, add-ons, how long the balance lasts."""

from flask import Blueprint, current_app, redirect, request, session
from flask_login import login_required

from portal import clock
from portal.auth_session import current_person
from portal.domain import billing, catalog, coming, promised, subscribers, suspension
from portal.domain.errors import NotFound
from portal.extensions import db
from portal.htmx import render
from portal.web.context import current_account
from portal.web.home.forms import SwitchAccountForm
from portal.web.urls import back_to
from portal.web.validators import first_error

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index():
    # Each thing read once, the subscriptions with their tariffs and add-ons at once
    # (tests/web/test_home_queries.py counts the statements).
    accounts = subscribers.accounts_of(db.session, current_person().id, with_subscriptions=True)
    account = current_account(accounts)
    today = clock.provider_today()
    now = catalog.connected(account, today)
    pauses = suspension.of_account(db.session, account.id)
    promise = promised.running(db.session, account.id)
    return render(
        "home/index.html",
        account=account,
        accounts=accounts,
        tariffs=now.tariffs,
        # Each add-on at today's price (a promotional one while it lasts).
        services=[(s.service, billing.price_on(s, today)) for s in now.subscriptions if s.service],
        monthly_total=billing.monthly_total(now.subscriptions, today),
        forecast=billing.forecast_with(
            account,
            today,
            block_threshold=current_app.config["PORTAL_BLOCK_THRESHOLD"],
            pauses=pauses,
            credit_back=promised.credit_back(db.session, promise, today),
        ),
        # The promised payment until it is repaid or expires; the pauses running or to come.
        promise=promise,
        promise_repaid=promise is not None and promised.is_repaid(db.session, promise),
        pauses=suspension.current_and_coming(pauses, today),
        coming=coming.coming(db.session, account, today),
        today=today,
        read_at=clock.now(),  # shown with the balance when the app is offline later
    )


@bp.route("/account", methods=["POST"])
@login_required
def switch_account():
    """Look at another of one's own accounts; someone else's is a 404."""
    form = SwitchAccountForm()
    if not form.validate_on_submit():
        return render("errors/error.html", status=400, code=400, message=first_error(form))
    try:
        account = subscribers.account_of(db.session, current_person().id, form.account_id.data)
    except NotFound:
        return render("errors/error.html", status=404, code=404, message=None)
    session["account_id"] = account.id
    return redirect(back_to(request.referrer), 303)
