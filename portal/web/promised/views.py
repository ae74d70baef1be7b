"""The promised payment: its terms, taking one, and why it may not be taken."""

from datetime import timedelta

from flask import Blueprint, current_app, url_for
from flask_babel import gettext as _
from flask_login import login_required

from portal import clock
from portal.auth_session import current_person
from portal.domain import audit, promised
from portal.extensions import db
from portal.htmx import render
from portal.web.actions import perform
from portal.web.context import current_account
from portal.web.filters import day, rub_plain
from portal.web.promised.forms import TakePromisedForm
from portal.web.validators import first_error

bp = Blueprint("promised", __name__, url_prefix="/promised")


def terms() -> promised.Terms:
    return promised.Terms.from_config(current_app.config)


def threshold() -> int:
    return current_app.config["PORTAL_BLOCK_THRESHOLD"]


def why_not(refused: promised.Refused) -> str:
    """A refusal in the subscriber's words."""
    detail = refused.detail
    messages = {
        "status": lambda: _(
            "A promised payment is not available while the services are suspended or "
            "stopped by the provider."
        ),
        "running": lambda: _(
            "A promised payment is already running until %(date)s.", date=day(detail["ends_on"])
        ),
        "day": lambda: _(
            "A promised payment can be taken from day %(first)d to day %(last)d of a month.",
            first=detail["first"],
            last=detail["last"],
        ),
        "month": lambda: _(
            "This month's promised payments are used up (%(num)d a month).",
            num=detail["per_month"],
        ),
        "today": lambda: _(
            "A promised payment has already been taken today: the next one can be taken "
            "from tomorrow."
        ),
        "not_needed": lambda: _(
            "The balance lasts long enough: a promised payment is for when the money runs out."
        ),
        "too_little": lambda: _(
            "The debt is larger than a promised payment covers: pay %(sum)s to restore the "
            "services.",
            sum=rub_plain(detail["missing"]),
        ),
    }
    return messages[refused.reason]()


def page(status: int = 200, form: TakePromisedForm | None = None, error: str | None = None):
    account = current_account()
    today = clock.provider_today()
    refused = promised.refusal(db.session, account, today, terms(), block_threshold=threshold())
    return render(
        "promised/index.html",
        status=status,
        account=account,
        terms=terms(),
        running=promised.running(db.session, account.id),
        refusal=error or (why_not(refused) if refused else None),
        form=form or TakePromisedForm(amount=terms().amount),
        would_end=today + timedelta(days=terms().days - 1),
    )


@bp.route("/")
@login_required
def index():
    return page()


@bp.route("/", methods=["POST"])
@login_required
def take():
    form = TakePromisedForm()
    if not form.validate_on_submit():
        return page(400, form, first_error(form))
    if form.amount.data != terms().amount:
        return page(400, form, _("The terms have changed: read them again and confirm."))
    return perform(
        lambda: promised.take(
            db.session,
            current_account().id,
            clock.provider_today(),
            terms(),
            block_threshold=threshold(),
            actor=audit.person_actor(current_person().id),
        ),
        refusals={promised.Refused: lambda refused: page(400, form, why_not(refused))},
        done=lambda promise: _(
            "The promised payment of %(sum)s is credited until %(date)s.",
            sum=rub_plain(promise.amount),
            date=day(promise.ends_on),
        ),
        to=url_for("home.index"),
    )
