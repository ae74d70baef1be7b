"""Form validators shared by every blueprint."""

import unicodedata

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError


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
