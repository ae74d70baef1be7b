"""Error pages: one place renders every 4xx and 500, in the user's language."""

from flask import Flask
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.extensions import db
from portal.htmx import render


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        from flask_babel import gettext as _

        return render(
            "errors/error.html",
            status=400,
            code=400,
            message=_("The form has expired. Reload the page and try again."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.response is not None:
            return error.response  # already made for this case (the sign-in throttle's page)
        code = error.code or 500
        return render("errors/error.html", status=code, code=code, message=None)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        # Never show a stack trace: log it, undo the half-done transaction, say sorry.
        app.logger.exception("unhandled error")
        db.session.rollback()
        return render("errors/error.html", status=500, code=500, message=None)
