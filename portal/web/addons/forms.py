"""The add-ons' forms: the CSRF token alone asks for it (a form class of its own keeps
the route a form route)."""

from portal.web.forms import Form


class ConnectForm(Form):
    pass


class DisconnectForm(Form):
    pass
