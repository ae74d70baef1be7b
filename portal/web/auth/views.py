"""Sign-in, sign-out and the language switch."""

from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, request, session, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_limiter import RequestLimit
from flask_login import current_user, login_user, logout_user

from portal.auth_session import SignedIn, session_lifetime
from portal.domain import audit, credentials
from portal.extensions import client_address, db, limiter
from portal.htmx import render
from portal.web.auth.forms import LanguageForm, LoginForm

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """Only a path on this site is followed after sign-in (no open redirect)."""
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.index")
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return url_for("home.index")
    return target


def _login_key() -> str:
    """Throttle per account: the login as typed, normalised, whether it exists or not."""
    typed = (request.form.get("login") or "").strip().lower()[: credentials.LOGIN_MAX]
    return "login:" + typed


def _failed(response) -> bool:
    return response.status_code != 303


def _too_many_attempts(limit: RequestLimit):
    retry_at = datetime.fromtimestamp(limit.reset_at, UTC)
    form = LoginForm()
    message = _(
        "Too many unsuccessful attempts. Try again after %(time)s.",
        time=format_datetime(retry_at, "HH:mm"),
    )
    response = render(
        "auth/login.html", block="login_form", status=429, form=form, error=message, hints=[]
    )
    response.headers["Retry-After"] = str(
        max(1, int(limit.reset_at - datetime.now(UTC).timestamp()))
    )
    return response


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["PORTAL_LOGIN_LIMIT_ACCOUNT"],
    key_func=_login_key,
    methods=["POST"],
    deduct_when=_failed,
    on_breach=_too_many_attempts,
)
@limiter.limit(
    lambda: current_app.config["PORTAL_LOGIN_LIMIT_ADDRESS"],
    methods=["POST"],
    deduct_when=_failed,
    on_breach=_too_many_attempts,
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"), 303)
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        return render("auth/login.html", block="login_form", form=form, error=None, hints=[])
    if not form.validate_on_submit():
        return render(
            "auth/login.html", block="login_form", status=400, form=form, error=None, hints=[]
        )

    person = credentials.authenticate(db.session, form.login.data, form.password.data)
    if person is None:
        audit.record(
            db.session,
            "auth.sign_in_failed",
            actor="anonymous",
            address=client_address(),
            login=form.login.data.strip()[:64],
        )
        db.session.commit()
        return render(
            "auth/login.html",
            block="login_form",
            status=401,
            form=form,
            error=_("Wrong login or password."),
            hints=_password_hints(form.password.data),
        )

    remember = bool(form.remember.data)
    new = credentials.start_session(
        db.session,
        person,
        remember=remember,
        lifetime=session_lifetime(remember),
        address=client_address(),
        user_agent=request.user_agent.string,
    )
    audit.record(
        db.session,
        "auth.signed_in",
        actor=f"person:{person.id}",
        person_id=person.id,
        address=client_address(),
        remember=remember,
    )
    db.session.commit()
    lang = session.get("lang")
    session.clear()  # a fresh session at sign-in: nothing carried over from before
    if lang:
        session["lang"] = lang
    login_user(
        SignedIn(person, new.record, new.token), remember=remember, duration=session_lifetime(True)
    )
    return redirect(safe_next(form.next.data), 303)


def _password_hints(password: str) -> list[str]:
    """The two usual reasons a right password is refused, read from what was typed."""
    hints = []
    if credentials.has_cyrillic(password):
        hints.append(
            _(
                "The password was typed with Russian letters: switch the keyboard "
                "to the Latin layout."
            )
        )
    letters = [ch for ch in password if ch.isalpha()]
    if letters and all(ch.isupper() for ch in letters) and len(letters) > 1:
        hints.append(_("All the letters were capitals: is Caps Lock on?"))
    return hints


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        person_id = current_user.person.id
        credentials.end_session(db.session, current_user.token)
        audit.record(
            db.session,
            "auth.signed_out",
            actor=f"person:{person_id}",
            person_id=person_id,
            address=client_address(),
        )
        db.session.commit()
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    response = redirect(url_for("auth.login"), 303)
    # The browser's HTTP cache goes (pages are no-store, so this is a second lock).
    # Not "storage": that would also unregister the service worker and drop the app's
    # offline shell, which holds nothing personal; portal.js forgets the last known
    # balance, the one personal thing kept on the device, as the sign-out form goes.
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


@bp.route("/language", methods=["POST"])
def language():
    form = LanguageForm()
    if not form.validate_on_submit():
        return render("errors/error.html", status=400, code=400, message=_("Unknown language."))
    session["lang"] = form.lang.data
    if current_user.is_authenticated:
        current_user.person.locale = form.lang.data
        db.session.commit()
    return redirect(safe_next(form.next.data), 303)
