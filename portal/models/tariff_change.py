"""A subscriber's tariff changes: made, scheduled, cancelled."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.types import UTCDateTime


class TariffChange(Base):
    """One change of an account's tariff for another of its group.

    The subscriptions are switched when the change is made, ahead of its day: the old
    one ends the day before `takes_effect_on`, the new one starts that day, so the
    billing run (charges.billable_on) needs nothing more. `applied_at` is when that
    switch was recorded; a change whose day has not come may be cancelled
    (`cancelled_at`), which puts the old subscription back and removes the new one.
    `form_key` is the confirming form's key: a form sent twice changes once.
    `ended_addon_ids` are the add-on subscriptions the change ends because they require
    the old tariff or its group (ended the day before); `removed_addons` what each such
    add-on not started by then was (its row is removed: it would never run, and SQLite
    may give its id to the next row). A cancelled change lets those it ended run on and
    connects those it removed again.
    """

    __tablename__ = "tariff_changes"
    __table_args__ = (sa.CheckConstraint("fee >= 0", name="fee_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id"))
    from_tariff_id: Mapped[int] = mapped_column(sa.ForeignKey("tariffs.id"))
    to_tariff_id: Mapped[int] = mapped_column(sa.ForeignKey("tariffs.id"))
    old_subscription_id: Mapped[int] = mapped_column(sa.ForeignKey("subscriptions.id"))
    # None once a cancelled change's subscription is removed.
    new_subscription_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subscriptions.id"))
    made_on: Mapped[date] = mapped_column(sa.Date)  # the provider's day it was made
    takes_effect_on: Mapped[date] = mapped_column(sa.Date)
    fee: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # kopecks
    form_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_addon_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list, server_default="[]")
    # {"service_id", "started_on", "promotion_id", "price_override", "price_override_until"}
    # with the days in ISO form, as tariff_change writes and reads them.
    removed_addons: Mapped[list[dict[str, Any]]] = mapped_column(
        sa.JSON, default=list, server_default="[]"
    )

    from_tariff: Mapped[Tariff] = relationship(foreign_keys=[from_tariff_id])  # noqa: F821
    to_tariff: Mapped[Tariff] = relationship(foreign_keys=[to_tariff_id])  # noqa: F821
