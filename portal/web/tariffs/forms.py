"""The tariff change's forms."""

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField
from wtforms.validators import InputRequired, Regexp

from portal.web.forms import Form

EXPIRED = _l("The form has expired. Reload the page and try again.")


class ChangeForm(Form):
    """Confirm a change: the form's own key (a form sent twice changes once)."""

    key = HiddenField(
        validators=[InputRequired(EXPIRED), Regexp(r"^[0-9a-f]{32}$", message=EXPIRED)]
    )


class CancelForm(Form):
    """Cancel a scheduled change: the CSRF token is enough, but a form of its own keeps
    the route a form route."""
