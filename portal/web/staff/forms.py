"""The console's sign-in form (the subscribers' limits on length and characters)."""

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length

from portal.domain.auth.credentials import LOGIN_MAX, PASSWORD_MAX
from portal.web.forms import Form
from portal.web.validators import printable


class StaffLoginForm(Form):
    login = StringField(
        _l("Login"),
        validators=[
            InputRequired(_l("Enter the login.")),
            Length(max=LOGIN_MAX, message=_l("Too long: at most %(max)d characters.")),
            printable,
        ],
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(_l("Enter the password.")),
            Length(max=PASSWORD_MAX, message=_l("Too long: at most %(max)d characters.")),
            printable,
        ],
    )
    next = HiddenField()


class CodeForm(Form):
    code = StringField(
        _l("Code"),
        validators=[
            InputRequired(_l("Enter the code.")),
            Length(max=32, message=_l("Too long: at most %(max)d characters.")),
            printable,
        ],
    )
