from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField
from wtforms.validators import AnyOf, InputRequired

from portal.web.forms import Form


class PreferencesForm(Form):
    """The kinds of notification pushed to the person's devices."""

    # Always sent by the page's form: a post without it (a JSON body) is no choice at all,
    # rather than "everything off".
    shown = HiddenField(default="1", validators=[InputRequired(), AnyOf(["1"])])
    payments = BooleanField(_l("Balance and payments"))
    visits = BooleanField(_l("Technician visits"))
    promotions = BooleanField(_l("Promotions and special offers"))
