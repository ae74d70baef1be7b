"""Onboarding at contract signing: the account, and the credentials sheet to print."""

import segno
from flask import Blueprint, current_app, url_for
from flask_babel import gettext as _

from portal import clock
from portal.domain import audit, subscribers
from portal.domain.errors import DuplicateContract, DuplicateLogin, InvalidInput
from portal.extensions import db
from portal.htmx import render
from portal.models import StaffRole
from portal.web.staff.access import current_staff, requires_roles
from portal.web.subscribers.forms import OnboardingForm

bp = Blueprint("subscribers_staff", __name__, url_prefix="/staff/subscribers")


def _form() -> OnboardingForm:
    catalogue = subscribers.offered_catalogue(db.session)
    return OnboardingForm().offer(catalogue, current_app.config["PORTAL_DISTRICTS"])


def _sign_in_url() -> str:
    """The sign-in page at the portal's public address (configured, never the Host)."""
    return current_app.config["PORTAL_PUBLIC_URL"] + url_for("auth.login")


@bp.route("/new", methods=["GET", "POST"])
@requires_roles(StaffRole.OPERATOR)
def new():
    form = _form()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render(
            "subscribers/staff/new.html", block="onboarding_form", status=status, form=form
        )
    try:
        created = subscribers.create_subscriber(
            db.session,
            contract_number=form.contract.data,
            name=form.name.data,
            phone=form.phone.data,
            address=form.address.data,
            district=form.district.data,
            tariff_codes=tuple(code for code in (form.internet.data, form.tv.data) if code),
            service_codes=tuple(form.addons.data),
            start=clock.provider_today(),
            actor=audit.staff_actor(current_staff().id),
        )
    except DuplicateContract:
        form.contract.errors.append(_("This contract number is taken."))
    except DuplicateLogin:
        form.contract.errors.append(_("This contract number is already someone's login."))
    except InvalidInput as exc:
        # The form checks the rest; the phone's number plan only the domain knows.
        field = form.phone if str(exc).startswith("phone") else form.contract
        field.errors.append(
            _("This does not look like a mobile phone number.")
            if field is form.phone
            else _("Check the details: %(problem)s", problem=str(exc))
        )
    else:
        db.session.commit()
        # The password is in this answer only (no-store): printed, never shown again.
        url = _sign_in_url()
        return render(
            "subscribers/staff/sheet.html",
            new=created,
            sign_in_url=url,
            qr=segno.make(url, error="m").svg_data_uri(scale=4, border=2),
        )
    db.session.rollback()
    return render("subscribers/staff/new.html", block="onboarding_form", status=400, form=form)
