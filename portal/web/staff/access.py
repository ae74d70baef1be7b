"""Who is at the console, and the role check every staff route declares.

Staff carry their own cookie (a random token; the table keeps its hash), limited to
/staff/, so the subscribers' session and the staff's never stand in for each other. A
browser where a member has fully signed in also keeps a trusted-device cookie of the
console's own (portal.domain.auth.devices), which their account's pause does not hold back.
"""

from functools import wraps

from flask import Flask, Response, abort, current_app, g, redirect, request, url_for

from portal.domain import staff
from portal.domain.auth import devices, lockout
from portal.extensions import db
from portal.htmx import hx_redirect, is_htmx
from portal.models import StaffMember, StaffRole, StaffSession
from portal.web.auth.throttle import device_max_age

COOKIE = "portal_staff"
COOKIE_PATH = "/staff/"
DEVICE_COOKIE = "portal_staff_device"
# What a route that needs no signed-in member (the sign-in page) declares instead.
PUBLIC: frozenset[StaffRole] = frozenset()
EVERY_ROLE = frozenset(StaffRole)


def staff_session() -> StaffSession | None:
    """The live staff session of this browser, signed in or still waiting for its second
    factor; read once per request from the staff cookie."""
    if "staff_session" not in g:
        token = request.cookies.get(COOKIE, "")
        record = staff.resume_session(db.session, token, idle=session_idle()) if token else None
        if record is not None:
            db.session.commit()
        g.staff_session = record
    return g.staff_session


def current_staff() -> StaffMember | None:
    """The signed-in member: both factors passed (or none needed)."""
    record = staff_session()
    return record.staff if record is not None and record.verified else None


def second_step_endpoint(record: StaffSession) -> str:
    """Where a half-open session goes: the code, or enrolment for an admin without one."""
    return "staff.code" if record.staff.totp_secret else "staff.enrol"


def session_idle():
    return current_app.config["PORTAL_STAFF_SESSION_IDLE"]


def requires_roles(*roles: StaffRole):
    """The roles that may open a staff route (the admin always may). The set is kept on
    the view, so a test over the URL map finds any staff route that declares none."""
    allowed = frozenset(roles)

    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            record = staff_session()
            if record is None:
                return _to_sign_in()
            if not record.verified:
                return redirect(url_for(second_step_endpoint(record)))
            if not staff.may(record.staff.role, allowed):
                abort(403)
            return view(*args, **kwargs)

        checked.staff_roles = allowed
        return checked

    return decorate


def public(view):
    """A staff route anyone may open (the sign-in page)."""
    view.staff_roles = PUBLIC
    return view


def second_step(view):
    """A route of the sign-in's second step: any role, a session that may be half-open."""

    @wraps(view)
    def checked(*args, **kwargs):
        if staff_session() is None:
            return _to_sign_in()
        return view(*args, **kwargs)

    checked.staff_roles = EVERY_ROLE
    return checked


def _to_sign_in():
    login_url = url_for("staff.login")
    if is_htmx():
        return hx_redirect(login_url)
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("staff.login", next=target) if target else login_url)


def set_cookie(response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        samesite="Strict",
    )


def clear_cookie(response) -> None:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        samesite="Strict",
    )


def sign_in_pause() -> lockout.StaffPause:
    """The account's free failures and pauses, from the configuration."""
    return lockout.StaffPause.from_config(current_app.config)


def current_device() -> devices.Device | None:
    """The device the console's trusted-device cookie names, if genuine and fresh."""
    if "staff_device" not in g:
        g.staff_device = devices.read(
            request.cookies.get(DEVICE_COOKIE),
            current_app.config["SECRET_KEY"],
            device_max_age(),
            salt=devices.STAFF,
        )
    return g.staff_device


def trust_this_device(response: Response, member: StaffMember) -> Response:
    """After a full sign-in: this browser is trusted for the member (with the password
    they have now)."""
    _device, value = devices.remember(
        current_device(), member, current_app.config["SECRET_KEY"], salt=devices.STAFF
    )
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=int(device_max_age().total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        samesite="Strict",
    )
    return response


def may_open(endpoint: str) -> bool:
    """Whether the signed-in member's role opens a staff page (for links to it)."""
    member = current_staff()
    view = current_app.view_functions.get(endpoint)
    roles = getattr(view, "staff_roles", None)
    return member is not None and roles is not None and staff.may(member.role, roles)


def init_app(app: Flask) -> None:
    app.add_template_global(current_staff)
    app.add_template_global(may_open)
