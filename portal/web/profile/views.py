"""The subscriber's profile: name, phone, password; changing the password and the phone."""

from flask import Blueprint, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_limiter import RequestLimit
from flask_login import current_user, login_required

from portal.auth_session import current_person
from portal.domain import profile
from portal.domain.errors import InvalidInput
from portal.extensions import client_address, db
from portal.htmx import hx_redirect, is_htmx, render
from portal.web.auth.policies import recovery_policy, sign_in_policy
from portal.web.auth.throttle import (
    person_key,
    post_limit,
    throttled,
    trust_this_device,
    wrong_current_password,
)
from portal.web.profile.forms import PasswordChangeForm, PhoneChangeForm, PhoneCodeForm

bp = Blueprint("profile", __name__, url_prefix="/profile")

# Where a subscriber who must choose a password may still go.
_ALLOWED_BEFORE_NEW_PASSWORD = {
    "profile.password",
    "auth.logout",
    "auth.language",
    "static",
    "pwa.manifest",
    "pwa.service_worker",
    "pwa.offline",
    "pwa.brand_css",
}


@bp.before_app_request
def require_own_password():
    """After a recovery secret is used, nothing else opens until a password is chosen."""
    if not current_user.is_authenticated or not current_person().must_change_password:
        return None
    if request.endpoint in _ALLOWED_BEFORE_NEW_PASSWORD:
        return None
    target = url_for("profile.password")
    return hx_redirect(target) if is_htmx() else redirect(target)


@bp.route("/")
@login_required
def index():
    person = current_person()
    return render(
        "profile/index.html",
        person=person,
        pending_phone=profile.pending_phone_change(db.session, person, recovery_policy()),
    )


def _password_limits(template: str, form_class):
    """Wrong current passwords are limited per account and per address, as at sign-in."""

    def too_many(limit: RequestLimit):
        return throttled(
            limit,
            lambda time: _("Too many wrong passwords. Try again after %(time)s.", time=time),
            template,
            "content",
            form=form_class(),
            forced=False,
            person=current_person(),
        )

    def decorate(view):
        for setting, key in [
            ("PORTAL_PASSWORD_CHECK_LIMIT", person_key),
            ("PORTAL_LOGIN_LIMIT_ADDRESS", None),
        ]:
            view = post_limit(
                setting,
                **({"key_func": key} if key else {}),
                deduct_when=wrong_current_password,
                on_breach=too_many,
            )(view)
        return view

    return decorate


def _wrong_password(field, message: str) -> None:
    """The failed check counts (audit, the account's failures) and the limits hear of it."""
    db.session.commit()
    g.wrong_current_password = True
    field.errors.append(message)


@bp.route("/password", methods=["GET", "POST"])
@login_required
@_password_limits("profile/password.html", PasswordChangeForm)
def password():
    person = current_person()
    forced = person.must_change_password
    form = PasswordChangeForm()
    if request.method == "GET":
        return render("profile/password.html", form=form, forced=forced, person=person)
    if not form.validate_on_submit():
        return render("profile/password.html", status=400, form=form, forced=forced, person=person)
    try:
        profile.change_password(
            db.session,
            person,
            form.current.data or "",
            form.new.data,
            sign_in_policy(),
            keep_session_token=current_user.token,
            address=client_address(),
        )
    except profile.WrongPassword:
        _wrong_password(form.current, _("The current password is wrong."))
        return render("profile/password.html", status=400, form=form, forced=forced, person=person)
    except InvalidInput:
        form.new.errors.append(
            _("Too easy to guess: not the contract number, the login or the provider's name.")
        )
        return render("profile/password.html", status=400, form=form, forced=forced, person=person)
    db.session.commit()
    flash(_("The password is changed."))
    return trust_this_device(redirect(url_for("profile.index"), 303), person)


@bp.route("/phone", methods=["GET", "POST"])
@login_required
@_password_limits("profile/phone.html", PhoneChangeForm)
def phone():
    person = current_person()
    form = PhoneChangeForm()
    if request.method == "GET":
        return render("profile/phone.html", form=form)
    if not form.validate_on_submit():
        return render("profile/phone.html", status=400, form=form)
    try:
        profile.start_phone_change(
            db.session,
            person,
            form.password.data,
            form.phone.data,
            sign_in_policy(),
            address=client_address(),
        )
    except profile.WrongPassword:
        _wrong_password(form.password, _("The password is wrong."))
        return render("profile/phone.html", status=400, form=form)
    except InvalidInput:
        form.phone.errors.append(_("This does not look like a new mobile phone number."))
        return render("profile/phone.html", status=400, form=form)
    except profile.TooManyCodes:
        form.phone.errors.append(_("Too many codes have been sent. Try again later."))
        return render("profile/phone.html", status=429, form=form)
    db.session.commit()
    return redirect(url_for("profile.phone_confirm"), 303)


@bp.route("/phone/confirm", methods=["GET", "POST"])
@login_required
def phone_confirm():
    person = current_person()
    pending = profile.pending_phone_change(db.session, person, recovery_policy())
    if pending is None:
        return redirect(url_for("profile.phone"), 303)
    form = PhoneCodeForm()
    if request.method == "GET":
        return render("profile/phone_confirm.html", form=form, pending=pending)
    if not form.validate_on_submit():
        return render("profile/phone_confirm.html", status=400, form=form, pending=pending)
    if not profile.confirm_phone_change(
        db.session, person, form.code.data, recovery_policy(), address=client_address()
    ):
        db.session.commit()  # the failed try counts
        form.code.errors.append(_("The code is wrong."))
        return render("profile/phone_confirm.html", status=400, form=form, pending=pending)
    db.session.commit()
    flash(_("The phone is changed."))
    return redirect(url_for("profile.index"), 303)
