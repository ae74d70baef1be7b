"""Flask-Login on top of server-side sessions (portal.domain.auth.credentials).

Flask-Login keeps the session token in the signed cookie (and in the remember cookie for
"stay signed in"); every request looks the token up, so a session ended in the database
is over at once, whoever holds a copy of the cookie.
"""

import logging
from dataclasses import dataclass

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import AnonymousUserMixin, current_user, user_logged_in
from sqlalchemy.exc import DBAPIError

from portal.domain.auth import credentials
from portal.extensions import db, login_manager
from portal.htmx import hx_redirect, is_htmx
from portal.models import LoginSession, Person
from portal.web.errors import database_unavailable, unavailable

log = logging.getLogger(__name__)


@dataclass
class SignedIn:
    """The current user as Flask-Login sees it: a person and the session they used."""

    person: Person
    # At sign-in the new row; on later requests what credentials.live_session read.
    login_session: LoginSession | credentials.LiveSession
    token: str

    is_authenticated = True
    is_active = True
    is_anonymous = False

    @property
    def id(self) -> int:
        return self.person.id

    def get_id(self) -> str:
        return self.token


def session_lifetime(remember: bool):
    if remember:
        return current_app.config["REMEMBER_COOKIE_DURATION"]
    return current_app.config["PORTAL_SESSION_IDLE"]


@login_manager.user_loader
def load_user(token: str) -> SignedIn | None:
    try:
        record = credentials.resume_session(
            db.session, token, idle=session_lifetime(False), remembered=session_lifetime(True)
        )
        if record is None:
            return None
        if record.touched:
            # The sliding expiry, moved at most every few minutes: most requests write
            # nothing, and so commit nothing (a commit would also expire what was read).
            db.session.commit()
        return SignedIn(record.person, record, token)
    except DBAPIError as error:
        if not database_unavailable(error):
            raise
        # The database cannot write now: the session still holds for reading, and its
        # expiry moves next time. If it cannot even read, signed out for this answer.
        log.warning("session.touch_failed error=%s", type(error.orig).__name__)
        db.session.rollback()
    try:
        record = credentials.live_session(db.session, token)
        return SignedIn(record.person, record, token) if record is not None else None
    except DBAPIError as error:
        db.session.rollback()
        # Not signed out: a page that needs the sign-in says to try again (_unauthorized).
        g.database_unavailable = database_unavailable(error)
        return None


def _unauthorized():
    if g.get("database_unavailable"):
        # The sign-in could not be read (the database is down or restarting): a 503 with
        # the retry page, not the sign-in form, which would say the session is over.
        return unavailable()
    login_url = url_for("auth.login")
    if is_htmx():
        # A 302 would be swapped into a fragment; tell htmx to go to the page instead.
        return hx_redirect(login_url)
    target = request.full_path if request.method == "GET" else None
    if target and target.rstrip("?") != "/":
        login_url = url_for("auth.login", next=target.rstrip("?"))
    if request.headers.get("HX-Boosted"):
        # A boosted navigation swaps only the body's content, and keeps the <body> of
        # the signed-in page (data-signed-in, the session token): the sign-in page must
        # be a full page load, so that portal.js forgets the last person's balance.
        return hx_redirect(login_url)
    return redirect(login_url)


class Anonymous(AnonymousUserMixin):
    person = None


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in.")
    login_manager.session_protection = None  # our sessions are server-side and revocable
    login_manager.anonymous_user = Anonymous
    login_manager.unauthorized_handler(_unauthorized)
    user_logged_in.connect(_forget_client_identifier, app)


def _forget_client_identifier(_app, **_extra) -> None:
    """Flask-Login writes a hash of the address and browser (`_id`, 128 characters) into
    the cookie for its own session protection, which is off here (the session is checked
    in the database on every request): every request would carry it for nothing."""
    session.pop("_id", None)


def fresh_session() -> None:
    """Empty the Flask session at sign-in and sign-out (nothing carried over from before),
    keeping only the chosen language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def current_person() -> Person:
    return current_user.person
