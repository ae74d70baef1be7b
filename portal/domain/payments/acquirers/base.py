"""What every acquirer provides: the interface and the values it exchanges.

An acquirer is one module in this package that defines `Provider`, a subclass of
`PaymentProvider`, listed by name in `acquirers.ACQUIRERS`: it registers a payment and
hands back where to send the payer (`create`), tells what it knows about a payment now
(`fetch`), and checks that a notification really comes from it (`parse_notification`).
The portal never trusts the content of a notification: it only learns from it which
payment to ask about.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from portal.domain.payments.errors import RemoteNotFound


class RemoteStatus(enum.StrEnum):
    """A payment's state as the acquirer sees it."""

    PENDING = "pending"
    WAITING = "waiting"  # waiting for a confirmation (capture, the payer's bank)
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


@dataclass(frozen=True)
class NewPayment:
    """What an acquirer needs to register a payment."""

    payment_id: int  # our row's id
    # The idempotence key of the registration: the row's id and creation time, so a
    # database restored or reset (or a staging copy on the same shop) never reuses one.
    idempotence_key: str
    amount: int  # kopecks
    currency: str
    method: str  # "card" or "sbp"
    description: str
    return_url: str  # where the payer comes back to
    notify_url: str  # where an acquirer that is told per payment sends notifications
    contract: str
    customer_phone: str | None = None  # E.164, for the fiscal receipt
    customer_email: str | None = None


@dataclass(frozen=True)
class RemotePayment:
    """A payment as the acquirer reports it."""

    provider_payment_id: str
    status: RemoteStatus
    amount: int  # kopecks
    currency: str
    confirmation_url: str | None = None
    cancel_reason: str | None = None
    our_payment_id: int | None = None  # from the metadata we gave at registration
    fiscal_receipt: dict = field(default_factory=dict)
    paid_at: datetime | None = None


@dataclass(frozen=True)
class Notification:
    """What an authentic notification names: the payment, and what it claims."""

    provider_payment_id: str
    event: str
    claimed_amount: int | None = None
    claimed_currency: str | None = None
    # False for what is not about a payment's own state (a refund, a payout): recorded
    # and acknowledged, so the acquirer stops resending.
    about_payment: bool = True
    # A refund's id at the acquirer: the refund is read back and debited from the balance.
    refund_id: str | None = None


@dataclass(frozen=True)
class RemoteRefund:
    """A refund as the acquirer reports it."""

    refund_id: str
    provider_payment_id: str
    status: str  # "pending", "succeeded", "canceled"
    amount: int  # kopecks
    currency: str


class PaymentProvider(ABC):
    """One acquirer. Implementations keep no per-request state."""

    #: the name in configuration and in the payments.provider column
    name: str = ""
    #: origins the browser is sent to (every page's Content-Security-Policy allows them)
    redirect_origins: tuple[str, ...] = ()
    #: a built-in test acquirer (its screens say TEST MODE)
    is_test: bool = False

    @classmethod
    @abstractmethod
    def from_config(cls, config: Mapping, db) -> PaymentProvider:
        """Build the provider from the app's configuration (and a session, if it keeps
        its own records in the portal's database, like the sandbox)."""

    @classmethod
    def configuration_problems(cls, config: Mapping) -> list[str]:
        """What is missing or wrong in its settings, each saying what to set (the portal
        refuses to start with this acquirer selected until the list is empty)."""
        return []

    @abstractmethod
    def create(self, payment: NewPayment) -> RemotePayment:
        """Register the payment; the answer carries the payer's confirmation_url.
        Repeating it for the same payment_id must not make a second payment."""

    @abstractmethod
    def fetch(self, provider_payment_id: str) -> RemotePayment:
        """What the acquirer knows about the payment now (RemoteNotFound if nothing)."""

    def fetch_refund(self, refund_id: str) -> RemoteRefund:
        """What the acquirer knows about a refund (acquirers without refunds: nothing)."""
        raise RemoteNotFound(f"refund {refund_id}")

    @abstractmethod
    def parse_notification(
        self, body: bytes, headers: Mapping[str, str], remote_addr: str | None
    ) -> Notification:
        """Check the notification comes from the acquirer (ForgedNotification if not)
        and say which payment it is about (BadNotification if it cannot be read)."""
