"""Online payments: one row per attempt to top up an account through an acquirer.

The row is written before the subscriber leaves for the acquirer, so every payment the
acquirer may ever report has a row to land on. Its status moves only through the state
machine in portal.domain.payments.states; the ledger entry that credits it is written in
the same transaction as the move to `succeeded`.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.types import UTCDateTime, enum_type


class PaymentStatus(enum.StrEnum):
    CREATED = "created"  # our row exists; the acquirer has not (yet) registered it
    PENDING = "pending"  # registered with the acquirer, waiting for the payer
    WAITING = "waiting"  # the payer's bank (or the acquirer) is waiting for a confirmation
    SUCCEEDED = "succeeded"  # paid and credited to the balance (final)
    CANCELED = "canceled"  # declined, canceled, expired or never started (final)
    REVIEW = "review"  # the acquirer reported another amount or currency: not credited (final)

    @property
    def is_final(self) -> bool:
        return self in (PaymentStatus.SUCCEEDED, PaymentStatus.CANCELED, PaymentStatus.REVIEW)


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    SBP = "sbp"  # the Faster Payments System, through the acquirer


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="positive_amount"),
        # An acquirer never reuses its payment ids; the constraint makes sure two rows
        # never claim the same one (and so never credit the same money twice).
        sa.UniqueConstraint("provider", "provider_payment_id", name="uq_payments_provider_id"),
        sa.Index("ix_payments_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)  # kopecks
    currency: Mapped[str] = mapped_column(sa.String(3), default="RUB")
    method: Mapped[PaymentMethod] = mapped_column(enum_type(PaymentMethod))
    provider: Mapped[str] = mapped_column(sa.String(32))
    provider_payment_id: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[PaymentStatus] = mapped_column(enum_type(PaymentStatus))
    # One submitted Pay form makes one payment: a double tap or a resent form finds the
    # row it made the first time through this unique key.
    creation_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    confirmation_url: Mapped[str | None] = mapped_column(sa.String(2000))
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(64))
    # What the acquirer says about the fiscal receipt (54-FZ): registration status and the
    # fiscal document's attributes where it returns them.
    fiscal_receipt: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    account: Mapped[Account] = relationship()  # noqa: F821


class NotificationRefusal(Base):
    """Notifications refused as not the acquirer's (unsigned, forged, from elsewhere) or
    unreadable, counted per acquirer, sender's address and hour: one row per window
    however many posts come, so a flood cannot fill the database (the unique key
    decides). The first refusal of a window is also an audit event."""

    __tablename__ = "payment_notification_refusals"
    __table_args__ = (
        sa.UniqueConstraint(
            "provider", "address", "hour", name="uq_payment_notification_refusals_window"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(32))
    address: Mapped[str] = mapped_column(sa.String(64))
    hour: Mapped[datetime] = mapped_column(UTCDateTime())  # the window's start, UTC
    refused: Mapped[int] = mapped_column(sa.Integer)  # posts refused in the window
    last_reason: Mapped[str] = mapped_column(sa.String(200))
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ResolutionOutcome(enum.StrEnum):
    CREDITED = "credited"  # a payment on review: the amount received credited
    REFUSED = "refused"  # a payment on review: canceled, nothing credited
    APPLIED = "applied"  # a noted refund: debited from the balance
    HANDLED = "handled"  # dealt with elsewhere (a call, the acquirer's dashboard)


class QueueResolution(Base):
    """How the staff resolved one item of a payments queue: a payment on review
    (`payment:<id>`) or a refund noted but not applied (`refund:<acquirer>:<refund id>`,
    the key its ledger entry has). The unique item makes an item resolved once, however
    often the form is sent; `form_key` tells a resent form from a second resolution."""

    __tablename__ = "queue_resolutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str] = mapped_column(sa.String(128), unique=True)
    outcome: Mapped[ResolutionOutcome] = mapped_column(enum_type(ResolutionOutcome))
    reason: Mapped[str] = mapped_column(sa.String(300))
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_members.id"))
    form_key: Mapped[str] = mapped_column(sa.String(64))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    ledger_entry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_entries.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Refund(Base):
    """A refund debited from the balance, tied to the payment it gives back: the ledger
    entry says how much and when, this row says of which payment (a receipt shows its
    refunds). Written with the entry; for entries older than the table, the migration
    that made it (0025) wrote the rows it could derive safely. One row per entry (the
    unique entry), however often the refund is reported."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id"), index=True)
    ledger_entry_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_entries.id"), unique=True)

    ledger_entry: Mapped[LedgerEntry] = relationship()  # noqa: F821
