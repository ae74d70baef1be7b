from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import AnyOf, InputRequired, Length

from portal.domain.auth.credentials import LOGIN_MAX, PASSWORD_MAX
from portal.web.forms import Form
from portal.web.validators import phone_field, printable


class LoginForm(Form):
    login = StringField(
        _l("Login or contract number"),
        validators=[
            InputRequired(_l("Enter the login or contract number.")),
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
    remember = BooleanField(_l("Stay signed in on this device"), default=True)
    next = HiddenField()


class LanguageForm(Form):
    lang = HiddenField(validators=[AnyOf(("ru", "en"), message=_l("Unknown language."))])
    next = HiddenField()


class RecoveryForm(Form):
    contract = StringField(
        _l("Contract number"),
        validators=[
            InputRequired(_l("Enter the contract number.")),
            Length(max=32, message=_l("A contract number is at most 32 characters.")),
            printable,
        ],
    )
    phone = phone_field(_l("Mobile phone"))
    send_sms = BooleanField(
        _l("Send me an SMS with a new password"),
        validators=[InputRequired(_l("Tick the box to have the SMS sent."))],
    )
