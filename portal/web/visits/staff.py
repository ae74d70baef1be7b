"""Technician visits in the console: the dispatcher's board (a day or a week), each
request moved through its states, the schedule (a weekly template and dated exceptions)
and the technicians. Every change is an audit event; the subscriber is told by push or
SMS (portal.domain.visits.notify). The board's actions answer an htmx request with the
request's row alone (swapped in place), a plain form post with a redirect."""

from datetime import timedelta
from functools import partial
from itertools import groupby

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from portal import clock
from portal.domain import audit, visits
from portal.domain.errors import InvalidInput, NotFound
from portal.domain.visits import requests, schedule, technicians
from portal.domain.visits.errors import (
    DuplicateOpen,
    InvalidTransition,
    TechnicianBusy,
    WindowFull,
    WindowUnavailable,
)
from portal.extensions import client_address, db
from portal.htmx import is_htmx, render, trigger
from portal.models import StaffRole, VisitState
from portal.web.ids import id_value
from portal.web.staff.access import current_staff, requires_roles
from portal.web.validators import first_error
from portal.web.visits import labels
from portal.web.visits.forms import (
    AdvanceForm,
    BoardForm,
    DayWindowForm,
    DeactivateForm,
    StaffMoveForm,
    TechnicianForm,
    TemplateForm,
)

bp = Blueprint("visits_staff", __name__, url_prefix="/staff/visits")

# Who dispatches the visits (the admin always may).
DISPATCH = (StaffRole.DISPATCHER,)


def _policy():
    return visits.policy_from(current_app.config)


def _districts() -> tuple[str, ...]:
    return current_app.config["PORTAL_DISTRICTS"]


def _district_choices(form_field, blank: str | None = None) -> None:
    choices = [(d, d) for d in _districts()]
    form_field.choices = ([("", blank)] if blank is not None else []) + choices


# --- the board ------------------------------------------------------------------------------


@bp.route("/")
@requires_roles(*DISPATCH)
def board():
    """The requests of a day (or the week from it), by window, with their actions."""
    form = BoardForm(request.args, meta={"csrf": False})
    _district_choices(form.district, _("All districts"))
    return _board_page(form)


def _board_page(form, error=None, failed=None, status=200):
    valid = form.validate()
    first = (valid and form.day.day) or clock.local_today(_policy().tz)
    last = first + timedelta(days=6 if form.week.data else 0)
    found = requests.board(db.session, first, last, (valid and form.district.data) or None)
    by_day = [(day, list(items)) for day, items in groupby(found, key=lambda v: v.window.day)]
    return render(
        "visits/staff/board.html",
        status=400 if not valid else status,
        form=form,
        first=first,
        last=last,
        by_day=by_day,
        labels=labels,
        technicians=technicians.active(db.session),
        next_states={v.id: _next(v.state) for v in found},
        move_choices=requests.move_choices(db.session, found, _policy()),
        error=error or (first_error(form) if not valid else None),
        failed=failed,
    )


def _row(visit, error=None, status=200, done=None):
    """The request's row alone, for htmx: the refusal in it, or a toast of what was done."""
    response = render(
        "visits/staff/_row.html",
        block="row",
        status=status,
        visit=visit,
        labels=labels,
        technicians=technicians.active(db.session),
        next_states=_next(visit.state),
        move_choices=requests.move_choices(db.session, [visit], _policy()).get(visit.id, []),
        error=error,
        failed=visit.id if error else None,
    )
    return trigger(response, "toast", done) if done else response


def _next(state: VisitState) -> list[VisitState]:
    return [s for s in requests.ALLOWED[state] if s is not VisitState.CONFIRMED]


def _done(visit, message: str):
    """After an action: the row (htmx) or back to the board of the request's day."""
    if is_htmx():
        return _row(visit, done=message)
    flash(message)
    return redirect(url_for("visits_staff.board", day=visit.window.day.isoformat()), 303)


def _failed(visit, message, status):
    """A refused action: the row with the refusal (htmx) or the board with it."""
    if is_htmx():
        db.session.refresh(visit)
        return _row(visit, error=message, status=status)
    form = BoardForm(meta={"csrf": False})
    _district_choices(form.district, _("All districts"))
    return _board_page(form, error=message, failed=visit.id, status=status)


def _visit(visit_id: int):
    try:
        return requests.for_staff(db.session, visit_id)
    except NotFound:
        abort(404)


@bp.route("/<id:visit_id>/state", methods=["POST"])
@requires_roles(*DISPATCH)
def advance(visit_id: int):
    """Confirm (with a technician), on the way, done, or cancel a request."""
    visit = _visit(visit_id)
    form = AdvanceForm()
    if not form.validate_on_submit():
        return _failed(visit, first_error(form) or _("Choose what to do."), 400)
    technician_id = None
    if form.technician.data:
        technician_id = id_value(form.technician.data)
        if technician_id is None:
            return _failed(visit, _("Choose a technician."), 400)
    try:
        requests.advance(
            db.session,
            visit,
            VisitState(form.to.data),
            _policy(),
            staff_id=current_staff().id,
            technician_id=technician_id,
            address=client_address(),
        )
    except (InvalidTransition, InvalidInput, TechnicianBusy) as exc:
        db.session.rollback()
        return _failed(visit, *labels.refusal(exc))
    db.session.commit()
    return _done(
        visit, _("Request №%(id)d: %(state)s.", id=visit.id, state=labels.STATES[visit.state])
    )


@bp.route("/<id:visit_id>/move", methods=["POST"])
@requires_roles(*DISPATCH)
def move(visit_id: int):
    """Another window of the request's district with room (agreed with the subscriber):
    one of the board's choices; a past window or one beyond the days ahead is refused."""
    visit = _visit(visit_id)
    form = StaffMoveForm()
    if not form.validate_on_submit():
        return _failed(visit, first_error(form), 400)
    try:
        requests.move_by_staff(
            db.session,
            visit,
            form.window.data,
            _policy(),
            staff_id=current_staff().id,
            address=client_address(),
        )
    except (
        InvalidTransition,
        InvalidInput,
        WindowFull,
        WindowUnavailable,
        TechnicianBusy,
        DuplicateOpen,
    ) as exc:
        db.session.rollback()
        return _failed(visit, *labels.refusal(exc))
    db.session.commit()
    return _done(visit, _("Request №%(id)d is moved.", id=visit.id))


# --- the schedule ------------------------------------------------------------------------------


@bp.route("/schedule")
@requires_roles(*DISPATCH)
def schedule_page():
    district = request.args.get("district", "")
    if district not in _districts():
        district = _districts()[0] if _districts() else ""
    return _schedule_page(district)


def _schedule_page(district, template_form=None, day_form=None, error=None, status=200):
    template_form = template_form or TemplateForm(district=district)
    day_form = day_form or DayWindowForm(district=district)
    _district_choices(template_form.district)
    _district_choices(day_form.district)
    today = clock.local_today(_policy().tz)
    ahead = schedule.slots(db.session, district, today, today + timedelta(days=13), _policy())
    return render(
        "visits/staff/schedule.html",
        status=status,
        district=district,
        districts=_districts(),
        templates=schedule.templates(db.session, district),
        ahead=[(day, list(s)) for day, s in groupby(ahead, key=lambda s: s.day)],
        template_form=template_form,
        day_form=day_form,
        labels=labels,
        error=error,
    )


@bp.route("/schedule/template", methods=["POST"])
@requires_roles(*DISPATCH)
def set_template():
    """A weekday's window of a district (capacity 0 takes it out of the week)."""
    return _save_window(
        TemplateForm(),
        "template_form",
        partial(schedule.set_template, today=clock.local_today(_policy().tz)),
        lambda form: int(form.weekday.data),
        _("The weekly window is saved."),
    )


@bp.route("/schedule/day", methods=["POST"])
@requires_roles(*DISPATCH)
def set_day():
    """An exception for one date: a holiday (capacity 0), more or fewer places, an extra
    window."""
    return _save_window(
        DayWindowForm(),
        "day_form",
        partial(schedule.set_day_window, today=clock.local_today(_policy().tz)),
        lambda form: form.day.day,
        _("The window of the date is saved."),
    )


def _save_window(form, form_name: str, set_window, when, saved: str):
    """One of the schedule's forms posted: `when` is its weekday or date."""
    _district_choices(form.district)
    district = form.district.data if form.district.data in _districts() else ""
    if not form.validate_on_submit() or when(form) is None:
        message = first_error(form) or _("Enter a date as YYYY-MM-DD.")
        return _schedule_page(district, error=message, status=400, **{form_name: form})
    try:
        set_window(
            db.session,
            district,
            when(form),
            form.starts.time,
            form.ends.time,
            form.capacity.data,
            actor=audit.staff_actor(current_staff().id),
            address=client_address(),
        )
    except InvalidInput as exc:
        db.session.rollback()
        message, status = labels.refusal(exc)
        return _schedule_page(district, error=message, status=status, **{form_name: form})
    db.session.commit()
    flash(saved)
    return redirect(url_for("visits_staff.schedule_page", district=district), 303)


# --- the technicians ---------------------------------------------------------------------------


@bp.route("/technicians")
@requires_roles(*DISPATCH)
def technicians_page():
    return _technicians_page(TechnicianForm())


def _technicians_page(form, error=None, status=200):
    _district_choices(form.districts)
    found = technicians.active(db.session)
    return render(
        "visits/staff/technicians.html",
        status=status,
        form=form,
        found=found,
        ratings=technicians.ratings(db.session, [t.id for t in found]),
        error=error,
    )


@bp.route("/technicians", methods=["POST"], endpoint="add_technician")
@requires_roles(*DISPATCH)
def add_technician():
    return _save_technician(
        partial(technicians.add, db.session),
        lambda form, error, status: _technicians_page(form, error=error, status=status),
        _("The technician is added."),
    )


def _save_technician(save, page, saved: str):
    """The add or the edit form posted: `save(name, phone, districts, ...)` is the
    domain's add or update; `page(form, error, status)` shows the form again."""
    form = TechnicianForm()
    _district_choices(form.districts)
    if not form.validate_on_submit():
        return page(form, first_error(form), 400)
    try:
        save(
            form.name.data,
            form.phone.data or "",
            form.districts.data or [],
            known_districts=_districts(),
            staff_id=current_staff().id,
            address=client_address(),
        )
    except InvalidInput as exc:
        db.session.rollback()
        return page(form, *labels.refusal(exc))
    db.session.commit()
    flash(saved)
    return redirect(url_for("visits_staff.technicians_page"), 303)


def _technician(technician_id: int):
    try:
        return technicians.get(db.session, technician_id)
    except NotFound:
        abort(404)


def _technician_page(technician, form=None, error=None, status=200):
    form = form or TechnicianForm(obj=technician)
    _district_choices(form.districts)
    return render(
        "visits/staff/technician.html",
        status=status,
        technician=technician,
        form=form,
        open_assigned=technicians.open_assigned(db.session, technician.id),
        error=error,
    )


@bp.route("/technicians/<id:technician_id>")
@requires_roles(*DISPATCH)
def technician_page(technician_id: int):
    """A technician's name, phone and districts to change; deactivating them."""
    return _technician_page(_technician(technician_id))


# A path of its own: on one path with the page's GET, an id out of range would be a 405.
@bp.route("/technicians/<id:technician_id>/edit", methods=["POST"], endpoint="edit_technician")
@requires_roles(*DISPATCH)
def edit_technician(technician_id: int):
    return _save_technician(
        partial(technicians.update, db.session, _technician(technician_id)),
        lambda form, error, status: _technician_page(
            _technician(technician_id), form, error=error, status=status
        ),
        _("The technician is saved."),
    )


@bp.route("/technicians/<id:technician_id>/deactivate", methods=["POST"])
@requires_roles(*DISPATCH)
def deactivate_technician(technician_id: int):
    """Out of the lists (their past visits keep their name); refused while open
    requests are assigned to them."""
    technician = _technician(technician_id)
    form = TechnicianForm(obj=technician)
    if not DeactivateForm().validate_on_submit():
        return _technician_page(technician, form, error=_("Try again."), status=400)
    try:
        technicians.deactivate(
            db.session, technician, staff_id=current_staff().id, address=client_address()
        )
    except InvalidInput as exc:
        db.session.rollback()
        message, _status = labels.refusal(exc)
        return _technician_page(_technician(technician_id), form, error=message, status=409)
    db.session.commit()
    flash(_("%(name)s is deactivated.", name=technician.name))
    return redirect(url_for("visits_staff.technicians_page"), 303)
