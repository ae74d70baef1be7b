from flask_babel import lazy_gettext as _l
from wtforms import PasswordField
from wtforms.validators import EqualTo, InputRequired, Length

from portal.domain.auth.credentials import PASSWORD_MAX, PASSWORD_MIN
from portal.domain.profile import PHONE_CODE_LENGTH
from portal.web.forms import Form
from portal.web.validators import password_field, phone_field, printable, text_field


class PasswordChangeForm(Form):
    """Change the password; the current one is asked unless a recovery secret was just used."""

    current = PasswordField(_l("Current password"), validators=[Length(max=128), printable])
    new = PasswordField(
        _l("New password"),
        validators=[
            InputRequired(_l("Enter the new password.")),
            Length(
                min=PASSWORD_MIN,
                max=PASSWORD_MAX,
                message=_l("From %(min)d to %(max)d characters."),
            ),
            printable,
        ],
    )
    repeat = PasswordField(
        _l("New password again"),
        validators=[
            InputRequired(_l("Repeat the new password.")),
            EqualTo("new", message=_l("The two new passwords differ.")),
        ],
    )


class PhoneChangeForm(Form):
    password = password_field()
    phone = phone_field(_l("New mobile phone"))


class PhoneCodeForm(Form):
    code = text_field(
        _l("Code from the SMS"), _l("Enter the code from the SMS."), PHONE_CODE_LENGTH + 4
    )
