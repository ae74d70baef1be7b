"""Form validators shared by every blueprint."""

import unicodedata
from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from portal.domain.auth.credentials import PASSWORD_MAX


def printable(form, field, *, allowed: str = "") -> None:
    """Refuse control characters (and the replacement character that stands for bytes
    that were not UTF-8): they never belong in a login, a name or a number. `allowed`:
    the ones that do belong (line breaks in a text of paragraphs)."""
    value = field.data or ""
    if any(
        (unicodedata.category(ch) == "Cc" and ch not in allowed) or ch == "\ufffd" for ch in value
    ):
        raise ValidationError(_l("Contains characters that cannot be typed."))


def printable_lines(form, field) -> None:
    """`printable`, with line breaks and tabs (a text of paragraphs)."""
    printable(form, field, allowed="\r\n\t")


def first_error(form) -> str:
    """The first validation message of a form, for a one-line answer."""
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return ""


def phone_field(label) -> StringField:
    """A mobile phone typed any usual way; the domain parses it (portal.domain.phones)."""
    return StringField(
        label,
        validators=[
            InputRequired(_l("Enter the mobile phone number.")),
            Length(max=32, message=_l("Too long for a phone number.")),
            printable,
        ],
    )


TOO_LONG = _l("Too long: at most %(max)d characters.")


def text_field(
    label, required_message, max_length: int, field=StringField, *, blank_is_missing=False
):
    """A typed, required line of text: present, not longer than `max_length`, printable.
    `blank_is_missing`: spaces alone count as nothing typed (a name, an address), for a
    field whose value is kept stripped. A text box (TextAreaField) takes line breaks."""
    return field(
        label,
        validators=[
            (DataRequired if blank_is_missing else InputRequired)(required_message),
            Length(max=max_length, message=TOO_LONG),
            printable_lines if field is TextAreaField else printable,
        ],
    )


def password_field():
    """The password as typed to sign in or to confirm (a new one's rules are the domain's)."""
    return text_field(_l("Password"), _l("Enter the password."), PASSWORD_MAX, field=PasswordField)


# The days a filter may name: a typo like 0202 or 20026 is refused, not searched.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def day_value(form, field) -> None:
    """A day typed as YYYY-MM-DD (what <input type="date"> sends); kept as a date in
    `field.day`. An empty field is "any day"."""
    field.day = None
    text = (field.data or "").strip()
    if not text:
        return
    try:
        value = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        value = None
    if value is None or not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationError(_l("Enter a date as YYYY-MM-DD."))
    field.day = value


def required_day_field(label, message) -> StringField:
    """A day that must be given, typed as YYYY-MM-DD (kept as a date in `field.day`)."""
    return StringField(
        label,
        validators=[
            DataRequired(message),  # spaces alone are no day either
            Length(max=10, message=_l("Enter a date as YYYY-MM-DD.")),
            day_value,
        ],
    )


def contract_filter_field() -> StringField:
    """An optional contract number a log is narrowed to (the payments, the SMS)."""
    return StringField(
        _l("Contract"), default="", validators=[Length(max=32, message=TOO_LONG), printable]
    )


def day_field(label) -> StringField:
    """An optional day of a filter (portal.clock.local_day_bounds makes it a range)."""
    return StringField(
        label, validators=[Length(max=10, message=_l("Enter a date as YYYY-MM-DD.")), day_value]
    )


def days_in_order(form, since: str = "since", until: str = "until") -> bool:
    """After `day_value` has read a filter's first and last day: whether they are in
    order (either may be open); the message on the last day when not."""
    first = getattr(form[since], "day", None)
    last = getattr(form[until], "day", None)
    if first and last and first > last:
        form[until].errors.append(_l("The end date is before the start date."))
        return False
    return True
