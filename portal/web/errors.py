"""Error pages: one place renders every 4xx and 5xx, in the user's language.

A database that refuses to write (read-only, full disk, locked too long, gone) is a 503
with Retry-After and a page saying that nothing was changed and to try again, never a
500. Like every answer here, an htmx request gets the page's content block.
"""

import logging

from flask import Flask, Response, g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from portal.extensions import db, login_manager
from portal.htmx import render

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 60

# PostgreSQL's SQLSTATEs for "cannot write now": read-only transaction, disk full, out of
# memory, too many connections, lock not available, the server shutting down or starting.
_UNAVAILABLE_SQLSTATES = frozenset(
    {"25006", "53100", "53200", "53300", "55P03", "57P01", "57P02", "57P03"}
)

_TITLES = {
    404: _l("Page not found"),
    405: _l("This action is not possible here"),
    413: _l("Too much data was sent"),
    429: _l("Too many requests"),
    503: _l("This cannot be saved just now"),
}


def error_title(code: int) -> str:
    """The heading of an error page."""
    if code in _TITLES:
        return str(_TITLES[code])
    if code >= 500:
        return _("Something went wrong on our side")
    return _("The request could not be processed")


def database_unavailable(error: BaseException) -> bool:
    """True when the database refused for now (retrying later may work), not for a bug."""
    if isinstance(error, OperationalError):  # SQLite: read-only, full, locked; lost server
        return True
    if isinstance(error, DBAPIError):
        return getattr(error.orig, "sqlstate", None) in _UNAVAILABLE_SQLSTATES
    return False


def unavailable(message: object = None) -> Response:
    """Undo the half-done transaction and say 503: nothing was changed, try again."""
    _roll_back()
    response = error_page(503, message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def error_page(code: int, message: object = None) -> Response:
    """The error page (its content block for htmx). Its frame shows the signed-in
    subscriber from rows the failed request's rollback expired: when the database cannot
    read them again (it went down under the request), the page is made as for a visitor
    instead, for this answer only (the sign-in itself is untouched)."""
    try:
        return render("errors/error.html", status=code, code=code, message=message)
    except DBAPIError as error:
        if not database_unavailable(error):
            raise
        log.warning("error_page.signed_in_unreadable error=%s", type(error.orig).__name__)
        _roll_back()
        g._login_user = login_manager.anonymous_user()  # what Flask-Login keeps per request
        return render("errors/error.html", status=code, code=code, message=message)


def _roll_back() -> None:
    try:
        db.session.rollback()
    except DBAPIError:
        log.warning("database.rollback_failed")


def init_app(app: Flask) -> None:
    app.jinja_env.globals["error_title"] = error_title

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return error_page(400, _("The form has expired. Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.response is not None:
            return error.response  # already made for this case (the sign-in throttle's page)
        return error_page(error.code or 500)

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError):
        if not database_unavailable(error):
            return unexpected_error(error)
        log.warning("database.unavailable error=%s", type(error.orig).__name__)
        return unavailable()

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        # Never show a stack trace: log it, undo the half-done transaction, say sorry.
        app.logger.exception("unhandled error")
        _roll_back()
        return error_page(500)
