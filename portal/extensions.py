"""Flask extensions: created here once, bound to the app in create_app."""

import ipaddress
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


# An IPv6 subscriber line is given a whole /64 (RFC 6177), and a host picks any address
# in it at will: counted per address, every guess could come from a fresh one.
IPV6_LIMIT_PREFIX = 64


def limit_key() -> str:
    """What a limit per network address counts: the IPv4 address, or the /64 network of
    an IPv6 one (an IPv4 address written as IPv6 counts as itself)."""
    address = client_address()
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_LIMIT_PREFIX), strict=False))
    return str(parsed)


limiter = Limiter(key_func=limit_key, default_limits=[])
# flask-limiter's own logger has only a NullHandler: its warning that Redis is out of
# reach and limits are counted per process from now on would be lost. A "portal" logger
# writes it where the app's other lines go (portal.logs).
limiter.logger = logging.getLogger("portal.limiter")
