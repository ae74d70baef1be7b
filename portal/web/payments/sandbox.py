"""The sandbox acquirer's own pages (TEST MODE): the card form a real acquirer shows,
the bank's confirmation screen, and the notifications it sends to the portal.

Registered only when PORTAL_SANDBOX_ACQUIRER is on (demo/development by default);
create_app refuses to start in production with it on. It plays the acquirer's part, so
it knows nothing of the portal's sessions: the random payment id in the URL is the key.
"""

import logging
import threading

import requests
from flask import Blueprint, abort, current_app, redirect, request, url_for
from flask_babel import gettext as _

from portal.domain.payments.acquirers import acquirer_for, sandbox
from portal.domain.payments.errors import NotATestCard, SandboxPaymentClosed
from portal.extensions import db
from portal.htmx import render
from portal.models import SandboxPayment

bp = Blueprint("sandbox_acquirer", __name__, url_prefix=sandbox.PAGES_PATH)
log = logging.getLogger(__name__)


def deliver(url: str, body: bytes, headers: dict[str, str]) -> None:
    """Send a notification to the portal's webhook as a real acquirer would: over HTTP,
    after the acquirer's own change is committed, never holding up the payer's page.
    (Tests replace this function to post the notification themselves.)"""

    def send() -> None:
        try:
            requests.post(url, data=body, headers=headers, timeout=(3, 10))
        except Exception as exc:  # a lost notification is what reconcile is for
            log.warning("sandbox notification to %s failed: %s", url, exc)

    threading.Thread(target=send, daemon=True, name="sandbox-notify").start()


def _acquirer() -> sandbox.Provider:
    return acquirer_for(sandbox.Provider.name, current_app.config, db.session)


def _record(payment_id: str) -> SandboxPayment:
    record = db.session.get(SandboxPayment, payment_id[:40])
    if record is None:
        abort(404)
    return record


def _notify(acquirer: sandbox.Provider, record: SandboxPayment) -> None:
    body, headers = acquirer.notification(record)
    deliver(record.notify_url, body, headers)


def _page(record, acquirer, *, status=200, error=None):
    return render(
        "payments/sandbox/pay.html",
        status=status,
        record=record,
        state=acquirer.status_of(record),
        error=error,
        cards=sandbox.TEST_CARDS,
    )


@bp.route("/pay/<payment_id>", methods=["GET"])
def pay_page(payment_id: str):
    record = _record(payment_id)
    acquirer = _acquirer()
    if acquirer.status_of(record) == sandbox.WAITING:
        return redirect(url_for(".confirm_page", payment_id=record.id), 303)
    return _page(record, acquirer)


@bp.route("/pay/<payment_id>", methods=["POST"])
def pay(payment_id: str):
    """The payer submits a test card (or, for SBP, confirms in the pretend bank app)."""
    record = _record(payment_id)
    acquirer = _acquirer()
    try:
        if record.method == "sbp":
            acquirer.pay_sbp(record)
        else:
            acquirer.pay(record, request.form.get("card_number", "")[:40])
    except NotATestCard:
        return _page(
            record,
            acquirer,
            status=400,
            error=_("TEST MODE accepts only the test cards listed on this page."),
        )
    except SandboxPaymentClosed:
        return _page(record, acquirer, status=409, error=_("This payment is already closed."))
    db.session.commit()
    _notify(acquirer, record)
    if record.status == sandbox.WAITING:
        return redirect(url_for(".confirm_page", payment_id=record.id), 303)
    return redirect(record.return_url, 303)


@bp.route("/pay/<payment_id>/cancel", methods=["POST"])
def cancel(payment_id: str):
    record = _record(payment_id)
    acquirer = _acquirer()
    try:
        acquirer.cancel(record)
    except SandboxPaymentClosed:
        return redirect(record.return_url, 303)
    db.session.commit()
    _notify(acquirer, record)
    return redirect(record.return_url, 303)


@bp.route("/confirm/<payment_id>", methods=["GET"])
def confirm_page(payment_id: str):
    record = _record(payment_id)
    acquirer = _acquirer()
    return render("payments/sandbox/confirm.html", record=record, state=acquirer.status_of(record))


@bp.route("/confirm/<payment_id>", methods=["POST"])
def confirm(payment_id: str):
    """The payer's bank asks to confirm (3-D Secure): confirm or reject."""
    record = _record(payment_id)
    acquirer = _acquirer()
    try:
        acquirer.confirm(record, approve=request.form.get("decision") == "confirm")
    except SandboxPaymentClosed:
        return redirect(record.return_url, 303)
    db.session.commit()
    _notify(acquirer, record)
    return redirect(record.return_url, 303)
