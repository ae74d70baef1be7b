from flask_babel import lazy_gettext as _l
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from portal.web.forms import Form


class SwitchAccountForm(Form):
    account_id = IntegerField(
        validators=[
            InputRequired(_l("Choose an account.")),
            NumberRange(min=1, max=2**31 - 1, message=_l("Choose an account.")),
        ]
    )
