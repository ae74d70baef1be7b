"""The portal's receipts of credited payments: one per payment, numbered by the database.

A receipt's number is its id. PostgreSQL takes it from the table's sequence and SQLite
from AUTOINCREMENT (the table is made with it), and neither ever hands out a number
again, even after a rollback or a deleted row: a number printed on a receipt names that
payment for good. The unique payment and ledger entry make one receipt per payment.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.types import UTCDateTime


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__: ClassVar[dict] = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)  # the receipt's number
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id"), unique=True)
    # The entry that credited the payment: its sum and moment are the receipt's.
    ledger_entry_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_entries.id"), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())

    payment: Mapped[Payment] = relationship()  # noqa: F821
    ledger_entry: Mapped[LedgerEntry] = relationship()  # noqa: F821
