"""The days the billing run has charged."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime


class BillingDay(Base):
    """One row a charged day, written in the transaction that charges it: the key on
    `day` lets one run charge a day however many start for it at once, and tells the
    next run where to catch up from. The figures are what that run did."""

    __tablename__ = "billing_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(sa.String(64))
    accounts: Mapped[int] = mapped_column(default=0)  # accounts charged
    charges: Mapped[int] = mapped_column(default=0)  # ledger entries written
    kopecks: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # charged in all
    blocked: Mapped[int] = mapped_column(default=0)  # accounts blocked for debt
    unblocked: Mapped[int] = mapped_column(default=0)  # blocks lifted before charging


class LowBalanceWarning(Base):
    """An account warned that its balance runs out soon, until it recovers: the key on
    the account makes the warning once per occasion (however many runs see the balance
    low), and the row goes when the balance lasts longer than the warning's days again,
    so the next fall is a new occasion."""

    __tablename__ = "low_balance_warnings"

    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), primary_key=True)
    warned_on: Mapped[date] = mapped_column(sa.Date)
    days_left: Mapped[int]  # what the forecast said then
