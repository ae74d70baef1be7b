"""The console's own pages: sign-in, sign-out and the start page."""

import segno
from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal import clock
from portal.domain import figures, staff, totp
from portal.domain.auth import view_as
from portal.extensions import client_address, db, limiter
from portal.htmx import render
from portal.web.staff import access
from portal.web.staff.access import requires_roles
from portal.web.staff.forms import CodeForm, StaffLoginForm
from portal.web.urls import safe_next

bp = Blueprint("staff", __name__, url_prefix="/staff")


def _next_page(target: str | None) -> str:
    """Only a console page is followed after sign-in."""
    page = safe_next(target)
    return page if page.startswith(access.COOKIE_PATH) else url_for("staff.index")


def _too_many(message):
    """A limit's answer: the sign-in form again (429), saying which limit it was."""

    def answer(_limit):
        return render(
            "staff/login.html",
            block="login_form",
            status=429,
            form=StaffLoginForm(),
            error=str(message),
        )

    return answer


def _failed(response) -> bool:
    return response.status_code not in (200, 303)


# Failed sign-ins and codes from one address (the account's own count is the domain's).
_limit_failures = limiter.limit(
    lambda: current_app.config["PORTAL_STAFF_LOGIN_LIMIT_ADDRESS"],
    methods=["POST"],
    deduct_when=_failed,
    on_breach=_too_many(_l("Too many unsuccessful attempts from this address. Try again later.")),
    scope="staff-sign-in",
)


def _device_key() -> str:
    device = access.current_device()
    return "staff-device:" + (device.id if device else "none")


# A trusted device is not held back by its member's pause, so its failures have a limit
# of their own: a copied cookie is no free pass.
_limit_device_failures = limiter.limit(
    lambda: current_app.config["PORTAL_LOGIN_LIMIT_DEVICE"],
    key_func=_device_key,
    methods=["POST"],
    deduct_when=_failed,
    exempt_when=lambda: access.current_device() is None,
    on_breach=_too_many(_l("Too many unsuccessful attempts from this browser. Try again later.")),
    scope="staff-sign-in-device",
)
_ENROLMENT_KEY = "staff_totp_enrolment"


@bp.route("/login", methods=["GET", "POST"])
@access.public
@_limit_failures
@_limit_device_failures
def login():
    if access.current_staff() is not None:
        return redirect(url_for("staff.index"), 303)
    form = StaffLoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        return render("staff/login.html", block="login_form", form=form, error=None)
    if not form.validate_on_submit():
        return render("staff/login.html", block="login_form", status=400, form=form, error=None)
    signed_in = staff.sign_in(
        db.session,
        form.login.data,
        form.password.data,
        lifetime=access.session_idle(),
        address=client_address(),
        user_agent=request.user_agent.string,
        device=access.current_device(),
        pause=access.sign_in_pause(),
    )
    db.session.commit()
    if signed_in is None:
        error = _("Wrong login or password.")
        return render("staff/login.html", block="login_form", status=401, form=form, error=error)
    if signed_in.verified:
        response = redirect(_next_page(form.next.data), 303)
        access.trust_this_device(response, signed_in.session.staff)
    else:
        response = redirect(url_for(access.second_step_endpoint(signed_in.session)), 303)
    access.set_cookie(response, signed_in.token)
    return response


@bp.route("/login/code", methods=["GET", "POST"])
@access.second_step
@_limit_failures
@_limit_device_failures
def code():
    """The second step: a code from the authenticator app, or a recovery code."""
    record = access.staff_session()
    if record.verified:
        return redirect(url_for("staff.index"), 303)
    if not record.staff.totp_secret:
        return redirect(url_for("staff.enrol"), 303)
    form = CodeForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render("staff/code.html", block="code_form", status=status, form=form, error=None)
    accepted = staff.check_code(
        db.session,
        record,
        form.code.data,
        address=client_address(),
        device=access.current_device(),
        pause=access.sign_in_pause(),
    )
    db.session.commit()
    if accepted:
        return access.trust_this_device(redirect(url_for("staff.index"), 303), record.staff)
    if record.ended_at is not None:
        flash(_("Too many wrong codes: sign in again."))
        response = redirect(url_for("staff.login"), 303)
        access.clear_cookie(response)
        return response
    error = _("Wrong code. Take the newest one from the app, or a recovery code.")
    return render("staff/code.html", block="code_form", status=401, form=form, error=error)


@bp.route("/totp", methods=["GET", "POST"])
@access.second_step
@_limit_failures
def enrol():
    """Turn on the authenticator app: required for an admin, optional for the others."""
    record = access.staff_session()
    if record.staff.totp_secret:
        if not record.verified:
            return redirect(url_for("staff.code"), 303)
        flash(
            _(
                "Two-step sign-in is on already. To move it to another phone, ask an "
                "administrator to remove the second factor, then set it up again."
            )
        )
        return redirect(url_for("staff.index"), 303)
    # Kept in the signed cookie between the page and the code, with the member it was
    # made for: on a console the office shares, a key one member saw (and left
    # unfinished) is never the next member's.
    kept = session.get(_ENROLMENT_KEY)
    if isinstance(kept, dict) and kept.get("staff") == record.staff_id and kept.get("key"):
        secret = str(kept["key"])
    else:
        secret = totp.new_secret()
        session[_ENROLMENT_KEY] = {"staff": record.staff_id, "key": secret}
    form = CodeForm()
    if form.validate_on_submit():
        codes = staff.enrol(db.session, record, secret, form.code.data, address=client_address())
        if codes is not None:
            db.session.commit()
            session.pop(_ENROLMENT_KEY, None)
            shown = render("staff/recovery_codes.html", codes=codes)
            return access.trust_this_device(shown, record.staff)
        db.session.commit()
        form.code.errors.append(_("Wrong code. Check the phone's time and try the newest one."))
    uri = totp.provisioning_uri(
        secret, account=record.staff.login, issuer=current_app.config["PORTAL_PROVIDER_NAME"]
    )
    return render(
        "staff/enrol.html",
        status=400 if form.is_submitted() else 200,
        form=form,
        secret=secret,
        qr=segno.make(uri, error="m").svg_data_uri(scale=4, border=2),
        member=record.staff,
    )


@bp.route("/logout", methods=["POST"])
@access.second_step
def logout():
    """Sign out of the console, from the second step too (a member who typed the password
    and walked away from the code leaves a session the next one at the desk can end); a
    view of a subscriber's pages open in it ends too."""
    record = access.staff_session()
    staff.end_session(db.session, request.cookies.get(access.COOKIE, ""), address=client_address())
    view_as.end_views_of(db.session, record.staff_id, address=client_address())
    db.session.commit()
    session.pop(_ENROLMENT_KEY, None)  # an unfinished key is nobody's to read afterwards
    response = redirect(url_for("staff.login"), 303)
    access.clear_cookie(response)
    return response


@bp.route("/")
@requires_roles(*access.EVERY_ROLE)
def index():
    """The start page: who is signed in, the sections and today's figures."""
    today = figures.today(
        db.session, clock.provider_today(), tz=current_app.config["PORTAL_TIMEZONE"]
    )
    return render("staff/index.html", member=access.current_staff(), figures=today)
