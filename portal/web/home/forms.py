from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange


class SwitchAccountForm(FlaskForm):
    account_id = IntegerField(
        validators=[
            InputRequired(_l("Choose an account.")),
            NumberRange(min=1, max=2**31 - 1, message=_l("Choose an account.")),
        ]
    )
