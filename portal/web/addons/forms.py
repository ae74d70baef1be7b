"""The add-ons' forms: the CSRF token alone asks for it (a form class of its own keeps
the route a form route)."""

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField
from wtforms.validators import Optional, Regexp

from portal.web.forms import Form


class ConnectForm(Form):
    # The promotion whose action leads here (empty: connected at the catalogue's price).
    promotion = HiddenField(
        validators=[Optional(), Regexp(r"^[1-9][0-9]{0,9}$", message=_l("Unknown offer."))]
    )


class DisconnectForm(Form):
    pass
