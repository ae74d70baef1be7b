"""The SMS outbox as the console shows it: what was sent to whom, when, and how it went.
A sensitive message's text is never shown (only its purpose, status and times)."""

from flask import Blueprint, current_app, request
from flask_babel import gettext as _

from portal import clock
from portal.domain import phones
from portal.domain.errors import InvalidInput
from portal.domain.sms import log
from portal.extensions import db
from portal.htmx import render
from portal.models import SmsStatus, StaffRole
from portal.web.ids import id_arg
from portal.web.sms.forms import SmsFilterForm
from portal.web.staff.access import requires_roles

bp = Blueprint("sms_staff", __name__, url_prefix="/staff/sms")

# The last digits of a number are enough to look for it, from this many.
ENDING_MIN = 4


@bp.route("/")
@requires_roles(StaffRole.OPERATOR)
def sms_log():
    """The outbox, newest first, by days, status, contract and phone; older pages by id."""
    form = SmsFilterForm(request.args)
    valid = form.validate()
    phone, ending = _phone(form) if valid else (None, None)
    if not valid or form.phone.errors:
        return render(
            "sms/staff/log.html",
            block="results",
            status=400,
            form=form,
            found=None,
            statuses=list(SmsStatus),
        )
    tz = current_app.config["PORTAL_TIMEZONE"]
    filters = log.Filters(
        since=clock.local_day_bounds(form.since.day, tz=tz)[0] if form.since.day else None,
        until=clock.local_day_bounds(form.until.day, tz=tz)[1] if form.until.day else None,
        status=SmsStatus(form.status.data) if form.status.data else None,
        phone=phone,
        phone_ending=ending,
        contract=form.contract.data.strip() or None,
    )
    found = log.page(db.session, filters, before=id_arg("before"), size=log.PAGE)
    return render(
        "sms/staff/log.html", block="results", form=form, found=found, statuses=list(SmsStatus)
    )


def _phone(form: SmsFilterForm) -> tuple[str | None, str | None]:
    """A whole number (any spelling) or its last digits; an error on the field else."""
    text = form.phone.data.strip()
    if not text:
        return None, None
    try:
        return phones.to_e164(text), None
    except InvalidInput:
        pass
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= ENDING_MIN and all(ch.isdigit() or ch in " -()" for ch in text):
        return None, digits
    form.phone.errors.append(_("Enter a phone number or at least its last four digits."))
    return None, None
