"""The team in the console (admins only): the staff accounts, a new member, a role, an
account switched off or on, a password or a second factor reset. The rules (never one's
own admin powers, never the last admin's) and the audit events are the domain's
(portal.domain.staff); a new password is shown once, on a page to print."""

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import gettext as _

from portal.domain import audit, staff
from portal.domain.errors import DomainError, DuplicateLogin, InvalidInput, LastAdmin, OwnAccount
from portal.extensions import client_address, db
from portal.htmx import render
from portal.models import StaffMember, StaffRole
from portal.web.staff.access import current_staff, requires_roles
from portal.web.staff.forms import NewStaffForm, RoleForm
from portal.web.urls import external_url

bp = Blueprint("team_staff", __name__, url_prefix="/staff/team")


@bp.route("/")
@requires_roles(StaffRole.ADMIN)
def index():
    """Every member: role, state, second factor, last sign-in."""
    return render("staff/team/index.html", team=staff.team(db.session), me=current_staff())


@bp.route("/new", methods=["GET", "POST"])
@requires_roles(StaffRole.ADMIN)
def new():
    form = NewStaffForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render("staff/team/new.html", block="member_form", status=status, form=form)
    try:
        created = staff.create_staff(
            db.session,
            login=form.login.data,
            name=form.name.data,
            role=form.role.data,
            actor=audit.staff_actor(current_staff().id),
            address=client_address(),
        )
    except DuplicateLogin:
        form.login.errors.append(_("This login is taken."))
    except InvalidInput as exc:  # the form checks the same rules: a safety net
        form.login.errors.append(_("Check the details: %(problem)s", problem=str(exc)))
    else:
        db.session.commit()
        return _password_page(created.member, created.password, created=True)
    db.session.rollback()
    return render("staff/team/new.html", block="member_form", status=400, form=form)


def _member_or_404(staff_id: int) -> StaffMember:
    member = db.session.get(StaffMember, staff_id)
    if member is None:
        abort(404)
    return member


@bp.route("/<id:staff_id>")
@requires_roles(StaffRole.ADMIN)
def member(staff_id: int):
    found = _member_or_404(staff_id)
    return _member_page(found, RoleForm(role=found.role.value))


def _member_page(found: StaffMember, form: RoleForm, status: int = 200, error: str | None = None):
    return render(
        "staff/team/member.html",
        status=status,
        member=found,
        form=form,
        me=current_staff(),
        error=error,
    )


def _refused(found: StaffMember, error: DomainError, form: RoleForm | None = None):
    """A rule of the team said no: nothing is written, the page says why (400)."""
    db.session.rollback()
    if isinstance(error, OwnAccount):
        message = _("You cannot deactivate your own account or take your own admin role.")
    elif isinstance(error, LastAdmin):
        message = _("This is the last active administrator: make someone else an admin first.")
    else:
        message = _("Check the details: %(problem)s", problem=str(error))
    db.session.refresh(found)
    return _member_page(found, form or RoleForm(role=found.role.value), 400, message)


def _done(found: StaffMember, changed: bool, message: str):
    db.session.commit()
    flash(message if changed else _("Nothing to change."))
    return redirect(url_for("team_staff.member", staff_id=found.id), 303)


@bp.route("/<id:staff_id>/role", methods=["POST"])
@requires_roles(StaffRole.ADMIN)
def role(staff_id: int):
    found = _member_or_404(staff_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _member_page(found, form, 400)
    try:
        changed = staff.change_role(
            db.session, found, form.role.data, by=current_staff(), address=client_address()
        )
    except (OwnAccount, LastAdmin, InvalidInput) as error:
        return _refused(found, error, form)
    return _done(found, changed, _("The role is changed."))


@bp.route("/<id:staff_id>/deactivate", methods=["POST"])
@requires_roles(StaffRole.ADMIN)
def deactivate(staff_id: int):
    """Switch the account off; every session of it ends at once."""
    return _set_active(_member_or_404(staff_id), False)


@bp.route("/<id:staff_id>/reactivate", methods=["POST"])
@requires_roles(StaffRole.ADMIN)
def reactivate(staff_id: int):
    return _set_active(_member_or_404(staff_id), True)


def _set_active(found: StaffMember, active: bool):
    try:
        changed = staff.set_active(
            db.session, found, active, by=current_staff(), address=client_address()
        )
    except (OwnAccount, LastAdmin) as error:
        return _refused(found, error)
    message = _("The account is on again.") if active else _("The account is off.")
    return _done(found, changed, message)


@bp.route("/<id:staff_id>/password", methods=["POST"])
@requires_roles(StaffRole.ADMIN)
def reset_password(staff_id: int):
    """A new generated password, on a page to print; the member's sessions end."""
    found = _member_or_404(staff_id)
    password = staff.reset_password(db.session, found, by=current_staff(), address=client_address())
    db.session.commit()
    return _password_page(found, password, created=False)


@bp.route("/<id:staff_id>/second-factor", methods=["POST"])
@requires_roles(StaffRole.ADMIN)
def reset_second_factor(staff_id: int):
    """Remove the authenticator key and recovery codes (a lost phone); sessions end."""
    found = _member_or_404(staff_id)
    changed = staff.reset_second_factor(
        db.session, found, by=current_staff(), address=client_address()
    )
    return _done(found, changed, _("The second factor is removed: the member sets it up again."))


def _password_page(found: StaffMember, password: str, *, created: bool):
    """The member's sign-in with the new password. It is in this answer only (never
    stored by the browser or a proxy): printed or handed over, never shown again."""
    response = render(
        "staff/team/password.html",
        member=found,
        password=password,
        created=created,
        sign_in_url=external_url("staff.login"),
    )
    response.headers["Cache-Control"] = "no-store"
    return response
