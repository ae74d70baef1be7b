"""Flask extensions: created here once, bound to the app in create_app."""

import logging

from flask import request
from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from portal.db import Database

db = Database()
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
compress = Compress()


def client_address() -> str:
    """The client's address; ProxyFix (set up in create_app) makes it trustworthy."""
    return get_remote_address() or request.remote_addr or "unknown"


limiter = Limiter(key_func=client_address, default_limits=[])
# flask-limiter's own logger has only a NullHandler: its warning that Redis is out of
# reach and limits are counted per process from now on would be lost. A "portal" logger
# writes it where the app's other lines go (portal.logs).
limiter.logger = logging.getLogger("portal.limiter")
