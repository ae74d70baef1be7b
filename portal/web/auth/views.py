"""Sign-in, sign-out and the language switch."""

from flask import Blueprint, current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import RequestLimit
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import DBAPIError

from portal.auth_session import SignedIn, fresh_session, session_lifetime
from portal.domain import phones
from portal.domain.auth import credentials, recovery, signin
from portal.domain.errors import InvalidInput
from portal.extensions import client_address, db
from portal.htmx import render
from portal.web.auth.forms import LanguageForm, LoginForm, RecoveryForm
from portal.web.auth.policies import recovery_policy, sign_in_policy
from portal.web.auth.throttle import (
    current_device,
    device_key,
    failed_sign_in,
    post_limit,
    signs_in_on_trusted_device,
    throttled,
    trust_this_device,
)
from portal.web.errors import database_unavailable, unavailable
from portal.web.urls import safe_next

bp = Blueprint("auth", __name__)


def _too_many_attempts(limit: RequestLimit):
    return throttled(
        limit,
        lambda time: _("Too many unsuccessful attempts. Try again after %(time)s.", time=time),
        "auth/login.html",
        "login_form",
        form=LoginForm(),
        hints=[],
    )


def _too_many_recoveries(limit: RequestLimit):
    return throttled(
        limit,
        lambda time: _(
            "Too many requests for a new password. Try again after %(time)s.", time=time
        ),
        "auth/recover.html",
        "recover_form",
        form=RecoveryForm(),
    )


@bp.route("/login", methods=["GET", "POST"])
@post_limit(
    "PORTAL_LOGIN_LIMIT_ADDRESS",
    deduct_when=failed_sign_in,
    exempt_when=signs_in_on_trusted_device,
    on_breach=_too_many_attempts,
)
@post_limit(
    "PORTAL_LOGIN_LIMIT_DEVICE",
    key_func=device_key,
    deduct_when=failed_sign_in,
    exempt_when=lambda: not signs_in_on_trusted_device(),
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
    attempt = signin.Attempt(
        login_or_contract=form.login.data,
        password=form.password.data,
        remember=bool(form.remember.data),
        address=client_address(),
        user_agent=request.user_agent.string,
        device=current_device(),
    )
    result = signin.sign_in(db.session, attempt, sign_in_policy())
    db.session.commit()
    if result is None:
        return render(
            "auth/login.html",
            block="login_form",
            status=401,
            form=form,
            error=_("Wrong login or password."),
            hints=_password_hints(form.password.data),
        )
    fresh_session()
    login_user(
        SignedIn(result.person, result.session.record, result.session.token),
        remember=attempt.remember,
        duration=session_lifetime(True),
    )
    if result.person.must_change_password:
        target = url_for("profile.password")
    else:
        target = safe_next(form.next.data)
    return trust_this_device(redirect(target, 303), result.person)


@bp.route("/recover", methods=["GET", "POST"])
@post_limit(
    "PORTAL_RECOVERY_LIMIT_ADDRESS",
    on_breach=_too_many_recoveries,
)
def recover():
    """Forgot the password: contract number + the phone on the account -> SMS.

    Whether or not the pair matches, and whether or not the contract or phone has had its
    SMS for now (the domain counts those), the answer is the same redirect to the same
    page; every request counts against the address."""
    form = RecoveryForm()
    if request.method == "GET":
        return render("auth/recover.html", block="recover_form", form=form, error=None)
    if not form.validate_on_submit():
        return render("auth/recover.html", block="recover_form", status=400, form=form, error=None)
    try:
        phone = phones.to_e164(form.phone.data)
    except InvalidInput:
        form.phone.errors.append(_("This does not look like a mobile phone number."))
        return render("auth/recover.html", block="recover_form", status=400, form=form, error=None)
    recovery.request_new_password(
        db.session, form.contract.data.strip(), phone, recovery_policy(), address=client_address()
    )
    db.session.commit()
    return redirect(url_for("auth.recover_sent"), 303)


@bp.route("/recover/sent")
def recover_sent():
    minutes = current_app.config["PORTAL_RECOVERY_TTL_MINUTES"]
    return render("auth/recover_sent.html", minutes=minutes)


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


# Lazy: said after the failed transaction is rolled back (the language may need a read).
_STILL_SIGNED_IN = _l(
    "You are still signed in: signing out did not go through. Try again in a minute."
)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        try:
            signin.sign_out(
                db.session,
                current_user.person.id,
                current_user.token,
                address=client_address(),
                # Filled in by portal.js from the browser's push subscription; empty
                # without JavaScript, and then the devices are left as they are.
                push_endpoint=request.form.get("push_endpoint"),
            )
            db.session.commit()
        except DBAPIError as error:
            if not database_unavailable(error):
                raise
            # The session could not be ended: say so, rather than drop a cookie that
            # would still work for whoever copied it.
            return unavailable(_STILL_SIGNED_IN)
    logout_user()
    fresh_session()
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
