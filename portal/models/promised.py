"""Promised payments: a short credit a subscriber takes when the money runs out."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime, enum_type


class PromisedState(enum.StrEnum):
    OPEN = "open"  # running: the credit is on the balance, not yet taken back
    REPAID = "repaid"  # payments since covered it; the credit was taken back
    EXPIRED = "expired"  # its last day passed first; the credit was taken back


class PromisedPayment(Base):
    """One promised payment: the credit posted when taken (ledger kind credit, key
    promised:<id>), its fee (a charge), and the credit taken back (a charge, key
    promised:<id>:back) once repaid (when the covering payment is credited) or expired
    (by the billing run)."""

    __tablename__ = "promised_payments"
    __table_args__ = (
        # One a day per account: a double click takes one.
        sa.UniqueConstraint("account_id", "taken_on", name="one_a_day"),
        sa.CheckConstraint("amount > 0", name="positive_amount"),
        sa.CheckConstraint("ends_on >= taken_on", name="dates_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)  # kopecks credited
    fee: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # kopecks charged
    taken_on: Mapped[date] = mapped_column(sa.Date)  # the provider's day
    ends_on: Mapped[date] = mapped_column(sa.Date)  # its last day
    # The credit's ledger entry: payments after it repay the promise.
    credit_entry_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_entries.id"))
    state: Mapped[PromisedState] = mapped_column(
        enum_type(PromisedState), default=PromisedState.OPEN, index=True
    )
    closed_on: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
