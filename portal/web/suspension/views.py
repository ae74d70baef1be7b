"""The voluntary suspension: pausing the services for some days, cancelling a pause
before it starts, resuming early."""

from functools import partial

from flask import Blueprint, current_app, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_required

from portal import clock
from portal.auth_session import current_person
from portal.domain import audit, suspension
from portal.extensions import db
from portal.htmx import render
from portal.web.actions import perform
from portal.web.context import current_account
from portal.web.filters import day, rub_plain
from portal.web.suspension.forms import PauseActionForm, PauseForm
from portal.web.validators import first_error

bp = Blueprint("suspension", __name__, url_prefix="/pause")


def terms() -> suspension.Terms:
    return suspension.Terms.from_config(current_app.config)


def why_not(refused: suspension.Refused) -> str:
    """A refusal in the subscriber's words."""
    detail = refused.detail
    messages = {
        "status": lambda: _("Services can be paused only while they are on: pay the debt first."),
        "order": lambda: _("The last day cannot be before the first."),
        "past": lambda: _("The first day cannot be in the past."),
        # The number decides the noun's form in Russian (1 день, 2 дня, 5 дней; after
        # "не меньше" 1 дня, 2 дней): ngettext with the number, never one fixed form.
        "too_far": lambda: ngettext(
            "A pause can start at most %(num)d day from today.",
            "A pause can start at most %(num)d days from today.",
            detail["days"],
        ),
        "too_short": lambda: ngettext(
            "A pause lasts at least %(num)d day.",
            "A pause lasts at least %(num)d days.",
            detail["days"],
        ),
        "too_long": lambda: ngettext(
            "A pause lasts at most %(num)d day.",
            "A pause lasts at most %(num)d days.",
            detail["days"],
        ),
        "overlap": lambda: _(
            "It overlaps the pause from %(first)s to %(last)s.",
            first=day(detail["first"]),
            last=day(detail["last"]),
        ),
        "too_soon": lambda: ngettext(
            "Two pauses need at least %(num)d day between them.",
            "Two pauses need at least %(num)d days between them.",
            detail["days"],
        ),
        "quota": lambda: ngettext(
            "Only %(num)d paused day is left in %(year)d (%(days)d a year).",
            "Only %(num)d paused days are left in %(year)d (%(days)d a year).",
            detail["left"],
            year=detail["year"],
            days=detail["days"],
        ),
        "money": lambda: _(
            "The balance does not cover the fee: pay %(sum)s more.",
            sum=rub_plain(detail["missing"]),
        ),
        "started": lambda: _("This pause has started: resume it instead."),
        "not_running": lambda: _(
            "This pause is not running: it can be cancelled before it starts."
        ),
    }
    return messages[refused.reason]()


def page(status: int = 200, form: PauseForm | None = None, error: str | None = None):
    account = current_account()
    today = clock.provider_today()
    pauses = suspension.of_account(db.session, account.id)
    return render(
        "suspension/index.html",
        status=status,
        account=account,
        terms=terms(),
        today=today,
        pauses=suspension.current_and_coming(pauses, today),
        used=suspension.used_days(pauses, today.year),
        form=form or PauseForm(),
        action_form=PauseActionForm(confirm="yes"),
        error=error,
    )


@bp.route("/")
@login_required
def index():
    return page()


@bp.route("/", methods=["POST"])
@login_required
def create():
    form = PauseForm()
    if not form.validate_on_submit():
        return page(400, form, first_error(form))
    return perform(
        lambda: suspension.request(
            db.session,
            current_account().id,
            form.starts_on.day,
            form.ends_on.day,
            clock.provider_today(),
            terms(),
            actor=audit.person_actor(current_person().id),
            block_threshold=current_app.config["PORTAL_BLOCK_THRESHOLD"],
        ),
        refusals={suspension.Refused: lambda refused: page(400, form, why_not(refused))},
        done=lambda paused: _(
            "The services are paused from %(first)s to %(last)s.",
            first=day(paused.starts_on),
            last=day(paused.ends_on),
        ),
        to=url_for("home.index"),
    )


def _act(suspension_id: int, action: str):
    """Cancel or resume one of the account's pauses, by the form's consent."""
    form = PauseActionForm()
    if not form.validate_on_submit():
        return page(400, error=first_error(form))
    account = current_account()
    actor = audit.person_actor(current_person().id)
    today = clock.provider_today()
    if action == "cancel":
        change = partial(
            suspension.cancel, db.session, account.id, suspension_id, today, actor=actor
        )
        done = _("The pause is cancelled.")
    else:
        change = partial(
            suspension.resume,
            db.session,
            account.id,
            suspension_id,
            today,
            block_threshold=current_app.config["PORTAL_BLOCK_THRESHOLD"],
            actor=actor,
        )
        done = _("The services are on again.")
    return perform(
        change,
        refusals={suspension.Refused: lambda refused: page(400, error=why_not(refused))},
        done=lambda _result: done,
        to=url_for("home.index"),
    )


@bp.route("/<id:suspension_id>/cancel", methods=["POST"])
@login_required
def cancel(suspension_id: int):
    return _act(suspension_id, "cancel")


@bp.route("/<id:suspension_id>/resume", methods=["POST"])
@login_required
def resume(suspension_id: int):
    return _act(suspension_id, "resume")
