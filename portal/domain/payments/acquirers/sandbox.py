"""The sandbox: a built-in test acquirer, so the whole payment flow runs with no contract.

It behaves as a real acquirer does. It registers payments in its own table
(sandbox_payments), shows its own pages (portal.web.payments.sandbox, every one marked
TEST MODE) where the payer "pays" with a test card, and notifies the portal through the
same webhook path a real acquirer uses, signed with HMAC-SHA256 (PORTAL_SANDBOX_WEBHOOK_KEY).

Test cards (any expiry date in the future, any CVC):

    4111 1111 1111 1111   the payment succeeds
    4000 0000 0000 0002   the bank declines it
    4000 0000 0000 3220   the bank asks for a confirmation first (3-D Secure): the
                          next screen confirms or rejects it

A payment not paid within PORTAL_SANDBOX_LIFETIME_MINUTES expires (canceled, "expired").
It never runs in production: create_app refuses to start so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.domain.payments.acquirers.base import (
    NewPayment,
    Notification,
    PaymentProvider,
    RemotePayment,
    RemoteStatus,
)
from portal.domain.payments.amounts import decimal_text
from portal.domain.payments.errors import (
    BadNotification,
    ForgedNotification,
    NotATestCard,
    RemoteNotFound,
    SandboxPaymentClosed,
)
from portal.models import SandboxPayment

PAGES_PATH = "/sandbox-acquirer"
SIGNATURE_HEADER = "X-Sandbox-Signature"

CARD_SUCCEEDS = "4111111111111111"
CARD_DECLINED = "4000000000000002"
CARD_CONFIRM = "4000000000003220"
TEST_CARDS = (CARD_SUCCEEDS, CARD_DECLINED, CARD_CONFIRM)

PENDING, WAITING, SUCCEEDED, CANCELED = "pending", "waiting_for_capture", "succeeded", "canceled"
_REMOTE = {
    PENDING: RemoteStatus.PENDING,
    WAITING: RemoteStatus.WAITING,
    SUCCEEDED: RemoteStatus.SUCCEEDED,
    CANCELED: RemoteStatus.CANCELED,
}


def webhook_key(config: Mapping) -> bytes:
    """The key notifications are signed with: configured, else derived from SECRET_KEY
    (so no key is written in the code)."""
    configured = config.get("PORTAL_SANDBOX_WEBHOOK_KEY")
    if configured:
        return configured.encode()
    return hmac.new(config["SECRET_KEY"].encode(), b"sandbox-webhook", hashlib.sha256).digest()


def sign(body: bytes, key: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _kopecks(text: str) -> int:
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or not (frac.isdigit() and len(frac) == 2):
        raise BadNotification(f"amount {text!r}")
    return int(whole) * 100 + int(frac)


@dataclass
class Provider(PaymentProvider):
    """The sandbox as the portal sees it: an acquirer reached through its records."""

    db: object
    key: bytes
    lifetime: timedelta

    name = "sandbox"
    is_test = True

    @classmethod
    def from_config(cls, config: Mapping, db) -> Provider:
        minutes = int(config.get("PORTAL_SANDBOX_LIFETIME_MINUTES", 15))
        return cls(db=db, key=webhook_key(config), lifetime=timedelta(minutes=minutes))

    # -- the acquirer's API --------------------------------------------------------------

    def create(self, payment: NewPayment) -> RemotePayment:
        key = str(payment.payment_id)
        existing = self._by_key(key)
        if existing is None:
            moment = clock.now()
            record = SandboxPayment(
                id="sbx_" + secrets.token_hex(12),
                idempotence_key=key,
                amount=payment.amount,
                currency=payment.currency,
                method="sbp" if payment.method == "sbp" else "bank_card",
                status=PENDING,
                description=payment.description[:300],
                return_url=payment.return_url,
                notify_url=payment.notify_url,
                payment_metadata={"payment_id": str(payment.payment_id)},
                created_at=moment,
                expires_at=moment + self.lifetime,
                updated_at=moment,
            )
            try:
                with self.db.begin_nested():
                    self.db.add(record)
                    self.db.flush()
            except IntegrityError:
                record = self._by_key(key)
            existing = record
        return self._remote(existing)

    def fetch(self, provider_payment_id: str) -> RemotePayment:
        record = self.db.get(SandboxPayment, provider_payment_id)
        if record is None:
            raise RemoteNotFound(provider_payment_id)
        return self._remote(record)

    def parse_notification(
        self, body: bytes, headers: Mapping[str, str], remote_addr: str | None
    ) -> Notification:
        given = headers.get(SIGNATURE_HEADER) or ""
        if not hmac.compare_digest(given.encode(), sign(body, self.key).encode()):
            raise ForgedNotification("bad or missing signature")
        try:
            data = json.loads(body)
            obj = data["object"]
            amount = obj.get("amount") or {}
            return Notification(
                provider_payment_id=str(obj["id"]),
                event=str(data["event"]),
                claimed_amount=_kopecks(str(amount["value"])) if amount else None,
                claimed_currency=str(amount["currency"]) if amount else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadNotification(str(exc)) from exc

    # -- the acquirer's own side (its pages call these) ------------------------------------

    def status_of(self, record: SandboxPayment) -> str:
        """pending / waiting_for_capture / succeeded / canceled, with expiry applied."""
        if record.status in (PENDING, WAITING) and clock.now() >= record.expires_at:
            return CANCELED
        return record.status

    def pay(self, record: SandboxPayment, card_number: str) -> str:
        """The payer submits a card: decide as the test card says. The number is
        compared and forgotten; only its last four digits are kept."""
        digits = "".join(ch for ch in card_number if ch.isdigit())
        if digits not in TEST_CARDS:
            raise NotATestCard()
        self._open(record)
        record.card_last4 = digits[-4:]
        if digits == CARD_SUCCEEDS:
            self._set(record, SUCCEEDED)
        elif digits == CARD_DECLINED:
            self._set(record, CANCELED, "card_declined")
        else:
            self._set(record, WAITING)
        return record.status

    def pay_sbp(self, record: SandboxPayment) -> str:
        """The payer confirms the transfer in the (pretend) bank app."""
        self._open(record)
        self._set(record, SUCCEEDED)
        return record.status

    def confirm(self, record: SandboxPayment, approve: bool) -> str:
        """The payer's bank confirmation (3-D Secure) for the CARD_CONFIRM card."""
        if self.status_of(record) != WAITING:
            raise SandboxPaymentClosed(record.id)
        if approve:
            self._set(record, SUCCEEDED)
        else:
            self._set(record, CANCELED, "3d_secure_failed")
        return record.status

    def cancel(self, record: SandboxPayment) -> str:
        """The payer leaves the payment page with "Cancel"."""
        self._open(record)
        self._set(record, CANCELED, "canceled_by_payer")
        return record.status

    def notification(self, record: SandboxPayment) -> tuple[bytes, dict[str, str]]:
        """The signed notification about the record's present state."""
        status = self.status_of(record)
        body = json.dumps(
            {
                "type": "notification",
                "event": f"payment.{status}",
                "object": {
                    "id": record.id,
                    "status": status,
                    "amount": {"value": decimal_text(record.amount), "currency": record.currency},
                    "metadata": record.payment_metadata,
                },
            },
            separators=(",", ":"),
        ).encode()
        headers = {SIGNATURE_HEADER: sign(body, self.key), "Content-Type": "application/json"}
        return body, headers

    # -- internals -------------------------------------------------------------------------

    def _open(self, record: SandboxPayment) -> None:
        if self.status_of(record) != PENDING:
            raise SandboxPaymentClosed(record.id)

    def _set(self, record: SandboxPayment, status: str, reason: str | None = None) -> None:
        record.status = status
        record.cancel_reason = reason
        record.updated_at = clock.now()
        self.db.flush()

    def _by_key(self, key: str) -> SandboxPayment | None:
        return self.db.scalar(
            sa.select(SandboxPayment).where(SandboxPayment.idempotence_key == key)
        )

    def _remote(self, record: SandboxPayment) -> RemotePayment:
        status = self.status_of(record)
        reason = record.cancel_reason
        if status == CANCELED and reason is None:
            reason = "expired"
        our_id = (record.payment_metadata or {}).get("payment_id")
        return RemotePayment(
            provider_payment_id=record.id,
            status=_REMOTE[status],
            amount=record.amount,
            currency=record.currency,
            confirmation_url=f"{PAGES_PATH}/pay/{record.id}",
            cancel_reason=reason if status == CANCELED else None,
            our_payment_id=int(our_id) if our_id and str(our_id).isdigit() else None,
            fiscal_receipt=_test_receipt(record) if status == SUCCEEDED else {},
            paid_at=record.updated_at if status == SUCCEEDED else None,
        )


def _test_receipt(record: SandboxPayment) -> dict:
    """What a fiscal receipt's attributes look like; marked as a test, never real."""
    number = int(hashlib.sha256(record.id.encode()).hexdigest()[:8], 16)
    return {
        "registration": "succeeded",
        "test": True,
        "fiscal_document_number": str(number % 100000),
        "fiscal_storage_number": "9999078900000000",
        "fiscal_attribute": str(number % 10**10),
        "registered_at": record.updated_at.isoformat(),
    }
