from flask_babel import lazy_gettext as _l
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from portal.web.forms import Form


class TakePromisedForm(Form):
    """The promised payment's amount as the page showed it: if the terms changed since,
    the subscriber confirms the new ones first."""

    amount = IntegerField(
        validators=[
            InputRequired(_l("Confirm the promised payment's sum.")),
            NumberRange(min=1, max=10**12, message=_l("Confirm the promised payment's sum.")),
        ]
    )
