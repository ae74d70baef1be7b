"""How the visit pages name categories, states and refusals, in the user's language."""

from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.domain.visits.errors import (
    DuplicateOpen,
    InvalidInput,
    InvalidTransition,
    TechnicianBusy,
    TooLateToChange,
    WindowBeyondHorizon,
    WindowFull,
    WindowPast,
    WindowUnavailable,
)
from portal.models import VisitCategory, VisitState

CATEGORIES = {
    VisitCategory.NO_INTERNET: _l("No internet"),
    VisitCategory.SLOW_INTERNET: _l("Slow internet"),
    VisitCategory.NO_TV: _l("No TV signal"),
    VisitCategory.EQUIPMENT: _l("Equipment"),
    VisitCategory.MOVING_CABLE: _l("Moving the cable"),
    VisitCategory.NEW_SERVICE: _l("Connecting a new service"),
    VisitCategory.OTHER: _l("Other"),
}
STATES = {
    VisitState.REQUESTED: _l("Requested"),
    VisitState.CONFIRMED: _l("Confirmed"),
    VisitState.ON_THE_WAY: _l("Technician on the way"),
    VisitState.DONE: _l("Done"),
    VisitState.CANCELLED: _l("Cancelled"),
}
WEEKDAYS = [
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
]
# The dispatcher's buttons that move a request to each state.
ACTIONS = {
    VisitState.CONFIRMED: _l("Confirm"),
    VisitState.ON_THE_WAY: _l("On the way"),
    VisitState.DONE: _l("Done"),
    VisitState.CANCELLED: _l("Cancel the request"),
}
# The states in order with the column of the moment each was reached.
TIMELINE = [
    (VisitState.REQUESTED, "created_at"),
    (VisitState.CONFIRMED, "confirmed_at"),
    (VisitState.ON_THE_WAY, "on_the_way_at"),
    (VisitState.DONE, "done_at"),
    (VisitState.CANCELLED, "cancelled_at"),
]
# InvalidInput's codes from portal.domain.visits, as the subscriber reads them.
INPUT_MESSAGES = {
    "category": _l("Choose what does not work."),
    "text_length": _l("The description is too long: at most 2000 characters."),
    "address": _l("Enter the address for the visit."),
    "address_length": _l("The address is too long: at most 300 characters."),
    "phone": _l("Enter a mobile phone number, e.g. +7 978 000-00-00."),
    "district": _l("Your contract has no district yet: call support to book a visit."),
    "window": _l("Choose a visit window."),
    "same_window": _l("That is the window already booked."),
    "rating": _l("Choose from 1 to 5 stars."),
    "comment_length": _l("The comment is too long: at most 2000 characters."),
    "technician": _l("Choose a technician."),
    "capacity": _l("Places: from 0 to 100."),
    "capacity_below_booked": _l("More places are booked already: the capacity cannot be lower."),
    "ends": _l("The window must end after it starts."),
    "weekday": _l("Choose a day of the week."),
    "day_past": _l("That date has passed: choose today or a later one."),
    "technician_name": _l("Enter the technician's name (up to 200 characters)."),
    "technician_districts": _l("Choose the districts the technician works in."),
    "technician_has_visits": _l(
        "The technician has open visits: give them to another technician first."
    ),
}


def window_label(day, starts, ends) -> str:
    """Ср, 25 ноября · 09:00–12:00"""
    return f"{format_date(day, 'EEE, d MMMM')} · {starts:%H:%M}–{ends:%H:%M}"


def refusal(exc: Exception) -> tuple[str, int]:
    """A visit rule's refusal as the reader reads it, and the answer's status."""
    if isinstance(exc, WindowFull):
        return _("That window has just been filled: choose another one."), 409
    if isinstance(exc, WindowPast):
        return _("That window has already started or is over: choose a later one."), 400
    if isinstance(exc, WindowBeyondHorizon):
        return _("That window is further ahead than visits are booked: choose an earlier one."), 400
    if isinstance(exc, TechnicianBusy):
        return _(
            "The technician has another visit at that time (request №%(id)d): choose another"
            " technician or window.",
            id=exc.other_id,
        ), 409
    if isinstance(exc, DuplicateOpen):
        return _(
            "The subscriber has a newer request of this kind (№%(id)d): close one of the"
            " two first.",
            id=exc.existing_id,
        ), 409
    if isinstance(exc, WindowUnavailable):
        return _("That window cannot be booked: choose one from the list."), 400
    if isinstance(exc, TooLateToChange):
        return _("It is too late to change this visit here: call support."), 409
    if isinstance(exc, InvalidTransition):
        return _("This visit cannot be changed any more."), 409
    if isinstance(exc, InvalidInput):
        message = INPUT_MESSAGES.get(str(exc))
        return (str(message) if message else _("Check the form.")), 400
    raise exc
