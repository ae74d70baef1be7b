"""Form validators shared by every blueprint."""

import unicodedata

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import InputRequired, Length, ValidationError


def printable(form, field) -> None:
    """Refuse control characters (and the replacement character that stands for bytes
    that were not UTF-8): they never belong in a login, a name or a number."""
    value = field.data or ""
    if any(unicodedata.category(ch) == "Cc" or ch == "\ufffd" for ch in value):
        raise ValidationError(_l("Contains characters that cannot be typed."))


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
