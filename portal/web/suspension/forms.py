from flask_babel import lazy_gettext as _l
from wtforms import HiddenField
from wtforms.validators import AnyOf, InputRequired

from portal.web.forms import Form
from portal.web.validators import required_day_field


class PauseForm(Form):
    """The days to pause, first and last included (each a YYYY-MM-DD date field)."""

    starts_on = required_day_field(_l("First day"), _l("Enter the first day."))
    ends_on = required_day_field(_l("Last day"), _l("Enter the last day."))


class PauseActionForm(Form):
    """Resume or cancel: the button says which; the field is the page's consent."""

    confirm = HiddenField(
        validators=[
            InputRequired(_l("Confirm with the button.")),
            AnyOf(["yes"], message=_l("Confirm with the button.")),
        ]
    )
