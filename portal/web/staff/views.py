"""The console's own pages: sign-in, sign-out and the start page."""

from flask import Blueprint, current_app, redirect, request, url_for
from flask_babel import gettext as _

from portal.domain import staff
from portal.extensions import client_address, db, limiter
from portal.htmx import render
from portal.web.auth.views import safe_next
from portal.web.staff import access
from portal.web.staff.access import requires_roles
from portal.web.staff.forms import StaffLoginForm

bp = Blueprint("staff", __name__, url_prefix="/staff")


def _next_page(target: str | None) -> str:
    """Only a console page is followed after sign-in."""
    page = safe_next(target)
    return page if page.startswith(access.COOKIE_PATH) else url_for("staff.index")


def _too_many_attempts(limit):
    return render(
        "staff/login.html",
        block="login_form",
        status=429,
        form=StaffLoginForm(),
        error=_("Too many unsuccessful attempts from this address. Try again later."),
    )


@bp.route("/login", methods=["GET", "POST"])
@access.public
@limiter.limit(
    lambda: current_app.config["PORTAL_STAFF_LOGIN_LIMIT_ADDRESS"],
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 303,
    on_breach=_too_many_attempts,
)
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
    )
    db.session.commit()
    if signed_in is None:
        error = _("Wrong login or password.")
        return render("staff/login.html", block="login_form", status=401, form=form, error=error)
    response = redirect(_next_page(form.next.data), 303)
    access.set_cookie(response, signed_in.token)
    return response


@bp.route("/logout", methods=["POST"])
@requires_roles(*access.EVERY_ROLE)
def logout():
    staff.end_session(db.session, request.cookies.get(access.COOKIE, ""), address=client_address())
    db.session.commit()
    response = redirect(url_for("staff.login"), 303)
    access.clear_cookie(response)
    return response


@bp.route("/")
@requires_roles(*access.EVERY_ROLE)
def index():
    return render("staff/index.html", member=access.current_staff())
