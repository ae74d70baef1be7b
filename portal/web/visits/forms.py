"""The forms of the visit pages (the subscriber's and the dispatcher's)."""

from datetime import time

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.domain.visits.requests import ADDRESS_MAX, COMMENT_MAX, TEXT_MAX
from portal.models import VisitState
from portal.web.forms import Form
from portal.web.validators import (
    TOO_LONG,
    day_field,
    phone_field,
    printable,
    printable_lines,
    text_field,
)
from portal.web.visits.labels import CATEGORIES

WINDOW_KEY_MAX = 16


def window_field():
    return StringField(
        _l("Visit window"),
        validators=[
            InputRequired(_l("Choose a visit window.")),
            Length(max=WINDOW_KEY_MAX, message=_l("Choose a visit window.")),
            printable,
        ],
    )


class BookForm(Form):
    category = SelectField(
        _l("What does not work"),
        choices=[SelectChoice(c.value, label) for c, label in CATEGORIES.items()],
        validators=[InputRequired(_l("Choose what does not work."))],
    )
    text = TextAreaField(
        _l("Describe the problem"),
        validators=[Optional(), Length(max=TEXT_MAX, message=TOO_LONG), printable_lines],
    )
    window = window_field()
    address = text_field(
        _l("Address for the visit"), _l("Enter the address for the visit."), ADDRESS_MAX
    )
    phone = phone_field(_l("Phone for the technician"))


class MoveForm(Form):
    window = window_field()


class RateForm(Form):
    rating = SelectField(
        _l("Rating"),
        choices=[SelectChoice(str(n)) for n in range(5, 0, -1)],
        validators=[InputRequired(_l("Choose from 1 to 5 stars."))],
    )
    comment = TextAreaField(
        _l("Comment"),
        validators=[Optional(), Length(max=COMMENT_MAX, message=TOO_LONG), printable_lines],
    )


# --- the dispatcher's console ------------------------------------------------------------


def clock_time(form, field) -> None:
    """A local time typed as HH:MM (what <input type="time"> sends); kept in `field.time`."""
    field.time = None
    text = (field.data or "").strip()
    try:
        field.time = time.fromisoformat(text) if len(text) == 5 else None
    except ValueError:
        field.time = None
    if field.time is None:
        raise ValidationError(_l("Enter a time as HH:MM."))


def time_field(label, **kwargs):
    return StringField(
        label, validators=[InputRequired(_l("Enter a time as HH:MM.")), clock_time], **kwargs
    )


def capacity_field(**kwargs):
    return IntegerField(
        _l("Places"),
        validators=[
            InputRequired(_l("Places: from 0 to 100.")),
            NumberRange(min=0, max=100, message=_l("Places: from 0 to 100.")),
        ],
        **kwargs,
    )


class BoardForm(Form):
    """The board's filter (a GET form): a district or all, a day, one day or a week."""

    district = SelectField(_l("District"), validate_choice=True, default="")
    day = day_field(_l("Day"))
    week = BooleanField(_l("The whole week"))


class AdvanceForm(Form):
    to = SelectField(
        _l("State"),
        choices=[SelectChoice(s.value) for s in VisitState],
        validators=[InputRequired(_l("Choose what to do."))],
    )
    technician = SelectField(_l("Technician"), validate_choice=False)


class StaffMoveForm(Form):
    window = window_field()


class TemplateForm(Form):
    district = SelectField(_l("District"), validate_choice=True)
    weekday = SelectField(
        _l("Day of the week"),
        choices=[SelectChoice(str(n)) for n in range(7)],
        validators=[InputRequired(_l("Choose a day of the week."))],
    )
    starts = time_field(_l("Window starts"))
    ends = time_field(_l("Window ends"))
    capacity = capacity_field()


class DayWindowForm(Form):
    """Beside the weekly form on one page: its own element ids."""

    district = SelectField(_l("District"), validate_choice=True, id="day-district")
    day = day_field(_l("Date"))
    starts = time_field(_l("Window starts"), id="day-starts")
    ends = time_field(_l("Window ends"), id="day-ends")
    capacity = capacity_field(id="day-capacity")


class TechnicianForm(Form):
    name = text_field(_l("Name"), _l("Enter the technician's name (up to 200 characters)."), 200)
    phone = StringField(_l("Phone"), validators=[Length(max=32), printable])
    districts = SelectMultipleField(_l("Districts"), validate_choice=True)


class DeactivateForm(Form):
    """Deactivating a technician: nothing but the CSRF token."""
