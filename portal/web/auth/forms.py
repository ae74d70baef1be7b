from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import AnyOf, InputRequired, Length

from portal.domain.auth.credentials import LOGIN_MAX
from portal.web.forms import Form
from portal.web.validators import password_field, phone_field, printable, text_field


class LoginForm(Form):
    login = text_field(
        _l("Login or contract number"), _l("Enter the login or contract number."), LOGIN_MAX
    )
    password = password_field()
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
