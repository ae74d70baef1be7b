"""The console's sign-in forms (the subscribers' limits on length and characters)."""

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField

from portal.domain.auth.credentials import LOGIN_MAX
from portal.web.forms import Form
from portal.web.validators import password_field, text_field


class StaffLoginForm(Form):
    login = text_field(_l("Login"), _l("Enter the login."), LOGIN_MAX)
    password = password_field()
    next = HiddenField()


class CodeForm(Form):
    code = text_field(_l("Code"), _l("Enter the code."), 32)
