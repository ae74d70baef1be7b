"""The console's forms: sign-in (the subscribers' limits on length and characters) and
the admin's team pages."""

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Regexp

from portal.domain import staff
from portal.domain.auth.credentials import LOGIN_MAX
from portal.models import StaffRole
from portal.web.filters import STAFF_ROLES
from portal.web.forms import Form
from portal.web.validators import password_field, text_field


class StaffLoginForm(Form):
    login = text_field(_l("Login"), _l("Enter the login."), LOGIN_MAX)
    password = password_field()
    next = HiddenField()


class CodeForm(Form):
    code = text_field(_l("Code"), _l("Enter the code."), 32)


def _role_field() -> SelectField:
    return SelectField(
        _l("Role"),
        choices=[SelectChoice(role.value, STAFF_ROLES[role]) for role in StaffRole],
        validate_choice=True,
    )


class NewStaffForm(Form):
    login = StringField(
        _l("Login"),
        validators=[
            InputRequired(_l("Enter the login.")),
            Regexp(
                staff.LOGIN_RE,
                message=_l(
                    "3 to 64 Latin letters, digits, “.”, “_” or “-”, from a letter or digit."
                ),
            ),
        ],
    )
    name = text_field(_l("Full name"), _l("Enter the name."), staff.NAME_MAX, blank_is_missing=True)
    role = _role_field()


class RoleForm(Form):
    role = _role_field()
