"""Voluntary suspensions: services paused for a range of days at the subscriber's asking."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime


class Suspension(Base):
    """Days `starts_on` to `ends_on` (both included) paused: no monthly charges, the
    daily fee instead if one was set (daily_fee, kopecks, fixed when asked for). An
    early resume moves ends_on back; a cancel before the start sets cancelled_at."""

    __tablename__ = "suspensions"
    __table_args__ = (
        sa.CheckConstraint("ends_on >= starts_on", name="dates_in_order"),
        sa.Index("ix_suspensions_account_dates", "account_id", "starts_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date] = mapped_column(sa.Date)
    daily_fee: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    activation_fee: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
