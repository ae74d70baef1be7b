from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, InputRequired, Length

from portal.web.forms import Form
from portal.web.validators import day_value


def _required_day(label, message):
    return StringField(
        label,
        validators=[
            InputRequired(message),
            Length(max=10, message=_l("Enter a date as YYYY-MM-DD.")),
            day_value,
        ],
    )


class PauseForm(Form):
    """The days to pause, first and last included (each a YYYY-MM-DD date field)."""

    starts_on = _required_day(_l("First day"), _l("Enter the first day."))
    ends_on = _required_day(_l("Last day"), _l("Enter the last day."))


class PauseActionForm(Form):
    """Resume or cancel: the button says which; the field is the page's consent."""

    confirm = HiddenField(
        validators=[
            InputRequired(_l("Confirm with the button.")),
            AnyOf(["yes"], message=_l("Confirm with the button.")),
        ]
    )
