"""What an account is subscribed to, and from when to when."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base


class Subscription(Base):
    """A tariff or an add-on service held by an account; ended_on is the last day
    it is charged for (None while it runs)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        sa.CheckConstraint("(tariff_id IS NULL) <> (service_id IS NULL)", name="tariff_or_service"),
        sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="dates_in_order"),
        sa.CheckConstraint(
            "(price_override IS NULL) = (price_override_until IS NULL)"
            " AND (price_override IS NULL OR price_override >= 0)",
            name="price_override_whole",
        ),
        # A promotion's offer is the account's once (NULLs, no promotion, are all distinct).
        sa.UniqueConstraint("account_id", "promotion_id", name="uq_subscriptions_promotion_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    tariff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tariffs.id"))
    service_id: Mapped[int | None] = mapped_column(sa.ForeignKey("services.id"))
    started_on: Mapped[date] = mapped_column(sa.Date)
    ended_on: Mapped[date | None] = mapped_column(sa.Date)
    # A promotional monthly price, kopecks, charged up to price_override_until (included)
    # in place of the catalogue's; the promotion it was connected through.
    price_override: Mapped[int | None] = mapped_column()
    price_override_until: Mapped[date | None] = mapped_column(sa.Date)
    promotion_id: Mapped[int | None] = mapped_column(sa.ForeignKey("promotions.id"), index=True)

    account: Mapped[Account] = relationship(back_populates="subscriptions")  # noqa: F821
    tariff: Mapped[Tariff | None] = relationship()  # noqa: F821
    service: Mapped[Service | None] = relationship()  # noqa: F821
