"""Paying online: the Pay page, starting a payment at the acquirer, following it until
it is final, the printable receipt, the bank QR code, and the acquirers' notifications.

Views parse and render; portal.domain.payments decides.
"""

import secrets

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from portal import clock
from portal.auth_session import current_person
from portal.domain import audit, subscribers
from portal.domain.errors import NotFound
from portal.domain.payments import amounts, notifications, qr, receipts, settle, start
from portal.domain.payments.acquirers import acquirer_for
from portal.domain.payments.amounts import Limits
from portal.domain.payments.errors import (
    AmountError,
    AmountMismatch,
    BadNotification,
    CreationKeyReused,
    CurrencyNotAccepted,
    ForgedNotification,
    NotificationNoted,
    ProviderUnavailable,
    UnknownPayment,
    UnknownProvider,
)
from portal.extensions import client_address, csrf, db, limiter
from portal.htmx import is_htmx, render, trigger
from portal.models import PaymentMethod, PaymentStatus
from portal.web.context import current_account
from portal.web.filters import rub_plain
from portal.web.payments import printed
from portal.web.payments.forms import PayForm
from portal.web.payments.messages import amount_message, cancel_message, preset_label
from portal.web.subscribers.view_as import current_view
from portal.web.urls import external_url

bp = Blueprint("payments", __name__, url_prefix="/pay")


def _limits() -> Limits:
    return Limits.from_config(current_app.config)


def _block_threshold() -> int:
    return current_app.config["PORTAL_BLOCK_THRESHOLD"]


def _acquirer(name: str):
    return acquirer_for(name, current_app.config, db.session)


def _configured() -> str:
    """The acquirer new payments go to ("" when online payment is off)."""
    return current_app.config["PORTAL_PAYMENT_PROVIDER"] or ""


def _checked_amount(form: PayForm, text: str | None) -> int | None:
    """The typed sum in kopecks; None, with the message on the form, if it is refused."""
    try:
        return _limits().parse(text)
    except AmountError as exc:
        form.amount.errors = [amount_message(exc, _limits())]
        return None


def _pay_page(
    form: PayForm,
    *,
    status: int = 200,
    error: str | None = None,
    block="content",
    offer: start.Offer | None = None,
):
    account = current_account()
    today = clock.provider_today()
    offer = offer or start.offer(
        db.session, account, today, _limits(), block_threshold=_block_threshold()
    )
    amount = None
    if form.amount.data and not form.amount.errors:
        try:
            amount = _limits().parse(form.amount.data)
        except AmountError:
            amount = None
    provider = _configured()
    # The form is redirected to the acquirer's page: every page's policy allows that
    # (portal/security.py), since this one may be swapped into another by a tap.
    return render(
        "payments/index.html",
        block=block,
        status=status,
        account=account,
        forecast=offer.forecast,
        presets=[(preset_label(p), p.amount) for p in offer.presets],
        form=form,
        amount=amount,
        preview=(
            start.after_paying(
                db.session, account, amount, today, block_threshold=_block_threshold()
            )
            if amount is not None
            else None
        ),
        error=error,
        online=bool(provider),
        test_mode=provider == "sandbox",
        bank_qr=current_app.config["PORTAL_BANK_QR"],
        format_plain=amounts.format_plain,
    )


@bp.route("/", methods=["GET"])
@login_required
def index():
    form = PayForm(formdata=None)
    form.creation_key.data = secrets.token_hex(16)
    offer = start.offer(
        db.session,
        current_account(),
        clock.provider_today(),
        _limits(),
        block_threshold=_block_threshold(),
    )
    given = request.args.get("amount", "")[:32]
    if given:
        form.amount.data = given
        _checked_amount(form, given)
    elif offer.suggested is not None:
        form.amount.data = amounts.format_plain(offer.suggested)
    return _pay_page(form, offer=offer)


@bp.route("/preview")
@login_required
def preview():
    """What the balance will be after paying the typed sum (htmx, as the sum is typed)."""
    text = request.args.get("amount", "")[:32]
    if not is_htmx():
        return redirect(url_for(".index", amount=text or None), 303)
    form = PayForm(formdata=None)
    form.amount.data = text
    _checked_amount(form, text)
    return _pay_page(form, block="preview")


@bp.route("/", methods=["POST"], endpoint="start")
@login_required
def start_payment():
    """Write the payment row, register it with the acquirer, send the payer there."""
    form = PayForm()
    provider_name = _configured()
    if not provider_name:
        return _pay_page(form, status=400, error=_("Online payment is not available."))
    if not form.validate_on_submit():
        return _pay_page(form, status=400)
    if (form.currency.data or "RUB") != "RUB":
        form.amount.errors = [amount_message(CurrencyNotAccepted(form.currency.data), _limits())]
        return _pay_page(form, status=400)
    amount = _checked_amount(form, form.amount.data)
    if amount is None:
        return _pay_page(form, status=400)

    account = current_account()
    actor = audit.person_actor(current_person().id)
    try:
        payment, _created = start.create_payment(
            db.session,
            account,
            amount=amount,
            method=PaymentMethod(form.method.data),
            creation_key=form.creation_key.data,
            provider=provider_name,
            actor=actor,
            address=client_address(),
        )
    except CreationKeyReused:
        db.session.rollback()
        form.creation_key.data = secrets.token_hex(16)
        return _pay_page(
            form,
            status=409,
            error=_("This form has already been used. Check the sum and press Pay again."),
        )
    db.session.commit()  # the row exists before the payer leaves for the acquirer
    if payment.status.is_final or payment.provider != provider_name:
        return redirect(url_for(".status", payment_id=payment.id), 303)
    try:
        payment = start.register(
            db.session,
            payment,
            _acquirer(provider_name),
            return_url=external_url(".status", payment_id=payment.id),
            notify_url=external_url(".notify", provider=provider_name),
            actor=actor,
            block_threshold=_block_threshold(),
        )
    except ProviderUnavailable:
        db.session.commit()  # keep the record of the failure
        response = _pay_page(
            form,
            status=503,
            error=_(
                "The payment service is not answering. Nothing has been charged: "
                "try again in a few minutes."
            ),
        )
        response.headers["Retry-After"] = "60"
        return response
    except AmountMismatch:
        db.session.commit()
        return redirect(url_for(".status", payment_id=payment.id), 303)
    db.session.commit()
    if payment.status.is_final or not payment.confirmation_url:
        return redirect(url_for(".status", payment_id=payment.id), 303)
    return redirect(payment.confirmation_url, 303)


def _own_payment(payment_id: int):
    account_ids = [a.id for a in subscribers.accounts_of(db.session, current_person().id)]
    try:
        return settle.payment_of(db.session, account_ids, payment_id)
    except NotFound:
        abort(404)


@bp.route("/<id:payment_id>")
@login_required
# Each look may ask the acquirer: enough for a page polling every 2 s, not for a flood.
@limiter.limit(lambda: current_app.config["PORTAL_PAYMENT_STATUS_LIMIT"])
def status(payment_id: int):
    """The page the payer comes back to: follows the payment until it is final."""
    payment = _own_payment(payment_id)
    was_final = payment.status.is_final
    checked = True
    # A staff member's view (view as the subscriber) only reads: the acquirer is asked
    # when the subscriber looks, or by the reconciler, never in the subscriber's name here.
    if not was_final and current_view() is None:
        try:
            payment = settle.finish_payment(
                db.session,
                payment.id,
                _acquirer(payment.provider),
                actor=audit.person_actor(current_person().id),
                block_threshold=_block_threshold(),
            )
        except (ProviderUnavailable, UnknownProvider):
            checked = False
        except AmountMismatch:
            pass
        db.session.commit()
        payment = _own_payment(payment_id)
    response = render(
        "payments/status.html",
        block="status",
        payment=payment,
        # What reached the balance: a payment credited from review may differ from its sum.
        credited=(
            settle.credited_amount(db.session, payment)
            if payment.status is PaymentStatus.SUCCEEDED
            else None
        ),
        account=payment.account,
        checked=checked,
        cancel_message=cancel_message(payment),
        test_mode=payment.provider == "sandbox",
        format_plain=amounts.format_plain,
    )
    if is_htmx() and not was_final and payment.status is PaymentStatus.SUCCEEDED:
        trigger(response, "balanceChanged", payment.account.balance)
        trigger(response, "toast", _("Payment received: %(sum)s.", sum=rub_plain(payment.amount)))
    return response


def _own_receipt(payment_id: int) -> receipts.ReceiptDetails:
    """The receipt of a credited payment of the signed-in person; 404 for anyone else's
    payment and for one not credited."""
    account_ids = [a.id for a in subscribers.accounts_of(db.session, current_person().id)]
    try:
        return receipts.receipt_of(db.session, account_ids, payment_id)
    except NotFound:
        abort(404)


@bp.route("/<id:payment_id>/receipt")
@login_required
def receipt(payment_id: int):
    """The portal's receipt of a credited payment (not the fiscal receipt), laid out for
    printing on A4 or a receipt printer's roll."""
    found = _own_receipt(payment_id)
    requisites = receipts.Requisites.from_config(current_app.config)
    return render(
        "payments/receipt.html",
        receipt=found,
        payment_facts=printed.payment_facts(found),
        refunded=printed.refund_summary(found),
        refund_facts=printed.refund_facts(found),
        payee_facts=printed.payee_facts(requisites),
        fiscal_facts=printed.fiscal_facts(found),
    )


@bp.route("/<id:payment_id>/receipt.pdf")
@login_required
def receipt_pdf(payment_id: int):
    """The same receipt as a PDF file."""
    found = _own_receipt(payment_id)
    body = printed.pdf_bytes(found, receipts.Requisites.from_config(current_app.config))
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="receipt-{found.number}.pdf"'
    return response


def _qr_amount() -> tuple[int | None, str | None]:
    text = request.args.get("amount", "")[:32]
    if not text:
        return None, None
    try:
        return _limits().parse(text), None
    except AmountError as exc:
        return None, amount_message(exc, _limits())


def _qr_payload(account, amount: int | None) -> str:
    details = qr.BankDetails.from_config(current_app.config)
    return qr.payload(
        details,
        amount=amount,
        purpose=start.description(account),
        pers_acc=account.contract_number,
    )


@bp.route("/qr")
@login_required
def qr_page():
    """Pay from any bank app: the GOST R 56042-2014 QR code with the sum and contract."""
    if not current_app.config["PORTAL_BANK_QR"]:
        abort(404)
    account = current_account()
    amount, error = _qr_amount()
    return render(
        "payments/qr.html",
        status=400 if error else 200,
        account=account,
        amount=amount,
        error=error,
        details=qr.BankDetails.from_config(current_app.config),
        payload=_qr_payload(account, amount),
        format_plain=amounts.format_plain,
    )


@bp.route("/qr.svg")
@login_required
def qr_image():
    if not current_app.config["PORTAL_BANK_QR"]:
        abort(404)
    amount, error = _qr_amount()
    if error:
        abort(400)
    body = qr.svg(_qr_payload(current_account(), amount))
    return Response(body, mimetype="image/svg+xml")


@bp.route("/notify/<provider>", methods=["POST"])
@csrf.exempt
# Anyone may post here: a flood from one address gets 429 before it costs any work. An
# acquirer resends what was not answered 200, and reconcile settles what is left.
@limiter.limit(
    lambda: current_app.config["PORTAL_PAYMENT_NOTIFY_LIMIT"],
    on_breach=lambda _limit: _plain("too many requests", 429),
)
def notify(provider: str):
    """An acquirer's notification. Answers 200 to anything handled (again), so the
    acquirer stops resending; 4xx to what is refused; 503 when the acquirer cannot be
    asked back (it will resend)."""
    try:
        acquirer = _acquirer(provider)
    except UnknownProvider:
        abort(404)
    try:
        payment = notifications.handle_notification(
            db.session,
            acquirer,
            request.get_data(cache=False),
            request.headers,
            request.remote_addr,
            block_threshold=_block_threshold(),
        )
        answer = _plain(payment.status.value, 200)
    except tuple(_NOTIFICATION_ANSWERS) as exc:
        answer = next(
            _plain(text, status)
            for kind, (text, status) in _NOTIFICATION_ANSWERS.items()
            if isinstance(exc, kind)
        )
    db.session.commit()  # also after a refusal: its audit record stays
    return answer


# What an acquirer is told about a notification that was not settled.
_NOTIFICATION_ANSWERS = {
    NotificationNoted: ("noted", 200),
    ForgedNotification: ("forbidden", 403),
    BadNotification: ("bad notification", 400),
    UnknownPayment: ("unknown payment", 404),
    AmountMismatch: ("amount or currency does not match", 422),
    ProviderUnavailable: ("try again later", 503),
}


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")
