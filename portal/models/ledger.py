"""Append-only ledger entries: every movement of money is one row, never changed."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.types import UTCDateTime, enum_type


class EntryKind(enum.StrEnum):
    PAYMENT = "payment"
    CHARGE = "charge"
    REFUND = "refund"
    CREDIT = "credit"
    CORRECTION = "correction"


# The condition of the index for every kind but charges (history._newest states it too:
# SQLite uses a partial index only for a query whose WHERE says its condition).
NOT_A_CHARGE = "kind <> 'charge'"


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        sa.CheckConstraint("amount <> 0", name="nonzero_amount"),
        sa.Index("ix_ledger_entries_account_created", "account_id", "created_at"),
        # The history's order: an account's entries newest first, a page at a time
        # (keyset on id), without sorting the account's entries or reading anyone else's.
        sa.Index("ix_ledger_entries_account_id_id", "account_id", "id"),
        # The same, filtered by a kind other than charges (a payment, a refund): found
        # without walking the account's charges. Charges (most of the ledger) stay out, so
        # the billing day's INSERT never touches it; charges alone walk the index above.
        sa.Index(
            "ix_ledger_entries_account_rare_kind_id",
            "account_id",
            "kind",
            "id",
            postgresql_where=sa.text(NOT_A_CHARGE),
            sqlite_where=sa.text(NOT_A_CHARGE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    kind: Mapped[EntryKind] = mapped_column(enum_type(EntryKind))
    amount: Mapped[int] = mapped_column(sa.BigInteger)  # kopecks; + credits, - debits
    balance_after: Mapped[int] = mapped_column(sa.BigInteger)
    # Whatever may be repeated (a webhook, a billing run, a retried job) names itself here;
    # the unique constraint makes the second copy fail instead of moving money twice.
    idempotency_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    service_date: Mapped[date | None] = mapped_column(sa.Date)  # the day a charge is for
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # The receipt of the payment this entry credited, if it is one (portal.models.receipt).
    receipt: Mapped[Receipt | None] = relationship(viewonly=True)  # noqa: F821
    # The payment this entry refunds, if it is a refund tied to one (portal.models.payment).
    refund: Mapped[Refund | None] = relationship(viewonly=True)  # noqa: F821
