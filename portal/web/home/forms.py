from flask_babel import lazy_gettext as _l
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from portal.web.forms import Form
from portal.web.ids import MAX_ID


class SwitchAccountForm(Form):
    account_id = IntegerField(
        validators=[
            InputRequired(_l("Choose an account.")),
            NumberRange(min=1, max=MAX_ID, message=_l("Choose an account.")),
        ]
    )
