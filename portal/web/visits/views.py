"""The visits section: call a technician home into a real window, follow the request,
cancel or move it while there is time, rate the visit afterwards."""

from itertools import groupby

from flask import Blueprint, abort, current_app, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import login_required

from portal.domain import phones, visits
from portal.domain.errors import InvalidInput, NotFound
from portal.domain.visits import requests, schedule
from portal.domain.visits.errors import (
    DuplicateOpen,
    InvalidTransition,
    TooLateToChange,
    WindowFull,
    WindowUnavailable,
)
from portal.extensions import client_address, db
from portal.htmx import render
from portal.models import AccountStatus
from portal.web.context import current_account
from portal.web.validators import first_error
from portal.web.visits import labels
from portal.web.visits.forms import BookForm, MoveForm, RateForm

bp = Blueprint("visits", __name__, url_prefix="/visits")


def _policy():
    return visits.policy_from(current_app.config)


def _days(account):
    """The bookable windows of the account's district, by day."""
    if not account.district:
        return []
    return _by_day(schedule.bookable(db.session, account.district, _policy()))


def _by_day(found):
    return [(day, list(slots)) for day, slots in groupby(found, key=lambda s: s.day)]


@bp.route("/")
@login_required
def index():
    """The subscriber's requests and the form for a new one, self-checks first."""
    account = current_account()
    form = BookForm(address=account.address, phone=phones.display(account.person.phone))
    return _index_page(account, form)


def _index_page(account, form, error=None, duplicate=None, status=200):
    return render(
        "visits/index.html",
        status=status,
        account=account,
        blocked=account.status in (AccountStatus.BLOCKED, AccountStatus.BLOCKED_BY_PROVIDER),
        form=form,
        days=_days(account),
        found=requests.of_account_all(db.session, account.id),
        labels=labels,
        error=error,
        duplicate=duplicate,
    )


@bp.route("/", methods=["POST"], endpoint="book")
@login_required
def book():
    account = current_account()
    form = BookForm()
    if not form.validate_on_submit():
        return _index_page(account, form, error=first_error(form), status=400)
    booking = requests.Booking(
        category=form.category.data,
        text=form.text.data or "",
        window_key=form.window.data,
        address=form.address.data,
        phone=form.phone.data,
    )
    try:
        visit = requests.book(db.session, account, booking, _policy(), address=client_address())
    except DuplicateOpen as exc:
        db.session.rollback()
        message = _("You have an open request about this already: follow or change it.")
        return _index_page(account, form, error=message, duplicate=exc.existing_id, status=409)
    except (WindowFull, WindowUnavailable, InvalidInput) as exc:
        db.session.rollback()
        message, status = labels.refusal(exc)
        return _index_page(account, form, error=message, status=status)
    db.session.commit()
    flash(_("The visit is booked. The dispatcher will confirm it and name the technician."))
    return redirect(url_for("visits.show", visit_id=visit.id), 303)


def _own(visit_id: int):
    try:
        return requests.of_account(db.session, current_account().id, visit_id)
    except NotFound:
        abort(404)


@bp.route("/<id:visit_id>")
@login_required
def show(visit_id: int):
    return _show_page(_own(visit_id))


def _show_page(visit, error=None, status=200, move_form=None, rate_form=None):
    policy = _policy()
    changeable = requests.may_change(visit, policy)
    # Where it may move: its district's windows with room, its own one left out.
    choices = requests.move_choices(db.session, [visit], policy) if changeable else {}
    return render(
        "visits/show.html",
        status=status,
        visit=visit,
        labels=labels,
        changeable=changeable,
        deadline=requests.change_deadline(visit, policy),
        days=_by_day(choices.get(visit.id, [])),
        move_form=move_form or MoveForm(),
        rate_form=rate_form or RateForm(),
        error=error,
    )


@bp.route("/<id:visit_id>/cancel", methods=["POST"])
@login_required
def cancel(visit_id: int):
    visit = _own(visit_id)
    try:
        requests.cancel_by_subscriber(db.session, visit, _policy(), address=client_address())
    except (TooLateToChange, InvalidTransition) as exc:
        db.session.rollback()
        message, status = labels.refusal(exc)
        return _show_page(visit, error=message, status=status)
    db.session.commit()
    flash(_("The visit is cancelled."))
    return redirect(url_for("visits.show", visit_id=visit.id), 303)


@bp.route("/<id:visit_id>/move", methods=["POST"])
@login_required
def move(visit_id: int):
    visit = _own(visit_id)
    form = MoveForm()
    if not form.validate_on_submit():
        return _show_page(visit, error=first_error(form), status=400, move_form=form)
    try:
        requests.move_by_subscriber(
            db.session, visit, form.window.data, _policy(), address=client_address()
        )
    except (TooLateToChange, InvalidTransition, WindowFull, WindowUnavailable, InvalidInput) as exc:
        db.session.rollback()
        message, status = labels.refusal(exc)
        return _show_page(visit, error=message, status=status, move_form=form)
    db.session.commit()
    flash(_("The visit is moved."))
    return redirect(url_for("visits.show", visit_id=visit.id), 303)


@bp.route("/<id:visit_id>/rate", methods=["POST"])
@login_required
def rate(visit_id: int):
    visit = _own(visit_id)
    form = RateForm()
    if not form.validate_on_submit():
        return _show_page(visit, error=first_error(form), status=400, rate_form=form)
    try:
        requests.rate(
            db.session,
            visit,
            int(form.rating.data),
            form.comment.data or "",
            address=client_address(),
        )
    except (InvalidTransition, InvalidInput) as exc:
        db.session.rollback()
        message, status = labels.refusal(exc)
        return _show_page(visit, error=message, status=status, rate_form=form)
    db.session.commit()
    flash(_("Thank you for the rating."))
    return redirect(url_for("visits.show", visit_id=visit.id), 303)
