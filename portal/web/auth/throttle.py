"""Limits on guessing passwords and asking for SMS, and the trusted-device cookie.

Flask-Limiter counts per network address (in growing steps) and, for a trusted device,
per device; the account's own count of wrong passwords is kept in the database by the
domain (portal.domain.auth.lockout). With Redis unreachable the limits are kept in the
process's memory (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED) until it answers again.
"""

from datetime import UTC, datetime, timedelta

from flask import Response, current_app, g, request
from flask_babel import format_datetime
from flask_limiter import RequestLimit
from sqlalchemy.exc import DBAPIError

from portal.auth_session import current_person
from portal.domain.auth import devices, signin
from portal.extensions import db, limiter
from portal.htmx import render
from portal.models import Person

DEVICE_COOKIE = "portal_device"


def post_limit(setting: str, **options):
    """A Flask-Limiter limit on POSTs, its rate read from configuration at request time."""
    return limiter.limit(lambda: current_app.config[setting], methods=["POST"], **options)


def throttled(limit: RequestLimit, message, template: str, block: str, **context) -> Response:
    """The form again, with a 429 and Retry-After, saying when (HH:MM, provider's time) to
    try again; `message(time)` gives the sentence in the reader's language."""
    retry_at = datetime.fromtimestamp(limit.reset_at, UTC)
    seconds = max(1, int(limit.reset_at - datetime.now(UTC).timestamp()))
    error = message(format_datetime(retry_at, "HH:mm"))
    response = render(template, block=block, status=429, error=error, **context)
    response.headers["Retry-After"] = str(seconds)
    return response


# --- trusted devices -------------------------------------------------------------------


def device_max_age() -> timedelta:
    """How long a trusted device's cookie (a subscriber's or a staff member's) lives."""
    return timedelta(days=current_app.config["PORTAL_TRUSTED_DEVICE_DAYS"])


def current_device() -> devices.Device | None:
    """The device the browser's cookie names, if the cookie is genuine and fresh."""
    if "device" not in g:
        g.device = devices.read(
            request.cookies.get(DEVICE_COOKIE), current_app.config["SECRET_KEY"], device_max_age()
        )
    return g.device


def signs_in_on_trusted_device() -> bool:
    """A sign-in POST from a device the named person has signed in on before."""
    if request.method != "POST":
        return False
    if "trusted_device" not in g:
        try:
            g.trusted_device = signin.trusted_device(
                db.session, request.form.get("login") or "", current_device()
            )
        except DBAPIError:
            # Not for Flask-Limiter to take for its storage failing: the view meets the
            # database's trouble itself and answers 503.
            db.session.rollback()
            g.trusted_device = False
    return g.trusted_device


def device_key() -> str:
    device = current_device()
    return "device:" + (device.id if device else "none")


def trust_this_device(response: Response, person: Person) -> Response:
    """After a sign-in or a new password: this browser is a trusted device for the person
    (with the password they have now)."""
    _device, value = devices.remember(current_device(), person, current_app.config["SECRET_KEY"])
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=int(device_max_age().total_seconds()),
        path=current_app.config.get("SESSION_COOKIE_PATH") or "/",
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        httponly=True,
        samesite="Lax",
    )
    return response


# --- what counts ---------------------------------------------------------------------


def failed_sign_in(response: Response) -> bool:
    """Anything but a sign-in or a refusal of ours (503: the database) counts."""
    return response.status_code not in (303, 503)


def person_key() -> str:
    """The signed-in person (an anonymous POST is sent to sign in before anything counts)."""
    person = current_person()
    return f"person:{person.id if person is not None else 'none'}"


def wrong_current_password(_response: Response) -> bool:
    """Set by the profile views when the current password was wrong."""
    return bool(g.get("wrong_current_password"))
