"""The provider's catalogue: tariff groups, tariffs (internet, TV) and add-on services.

- A tariff may be changed only for another tariff of its group; the group says what a
  change costs by direction and how many changes a month are allowed. A tariff in no
  group cannot be changed by the subscriber (a staff matter).
- An archived tariff or add-on (`archived_at` set) stays on the subscribers who have it
  and is charged as before, but is no longer offered for new contracts or changes.
- An add-on may require a tariff group or one tariff, and may exclude other add-ons; an
  exclusion is symmetric and stored once, the smaller id first.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.types import UTCDateTime, enum_type


class TariffKind(enum.StrEnum):
    INTERNET = "internet"
    TV = "tv"


class TakesEffect(enum.StrEnum):
    """When a change to a tariff takes effect."""

    TODAY = "today"
    NEXT_MONTH = "next_month"  # the first day of next month


class AddonStart(enum.StrEnum):
    """When a connected add-on starts (and is first charged)."""

    TODAY = "today"
    TOMORROW = "tomorrow"


class TariffGroup(Base):
    """Tariffs a subscriber may change between, and what a change costs."""

    __tablename__ = "tariff_groups"
    __table_args__ = (
        sa.CheckConstraint(
            "fee_up >= 0 AND fee_down >= 0 AND fee_same >= 0", name="fees_not_negative"
        ),
        sa.CheckConstraint(
            "changes_per_month IS NULL OR changes_per_month BETWEEN 1 AND 31",
            name="changes_per_month_range",
        ),
        # What the tariffs' (group_id, kind) key refers to: a tariff's kind is its group's.
        sa.UniqueConstraint("id", "kind", name="uq_tariff_groups_id_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    kind: Mapped[TariffKind] = mapped_column(enum_type(TariffKind))
    name: Mapped[str] = mapped_column(sa.String(100))
    # Kopecks charged for a change to a dearer tariff, a cheaper one, one of the same price.
    fee_up: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    fee_down: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    fee_same: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    changes_per_month: Mapped[int | None] = mapped_column()  # None: no limit
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    tariffs: Mapped[list[Tariff]] = relationship(
        back_populates="group",
        primaryjoin="TariffGroup.id == foreign(Tariff.group_id)",
        order_by="Tariff.monthly_price",
    )


class Tariff(Base):
    __tablename__ = "tariffs"
    __table_args__ = (
        sa.CheckConstraint("monthly_price >= 0", name="price_not_negative"),
        sa.CheckConstraint("speed_mbps IS NULL OR speed_mbps > 0", name="speed_positive"),
        sa.CheckConstraint("channels IS NULL OR channels > 0", name="channels_positive"),
        sa.ForeignKeyConstraint(["group_id", "kind"], ["tariff_groups.id", "tariff_groups.kind"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    kind: Mapped[TariffKind] = mapped_column(enum_type(TariffKind))
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    monthly_price: Mapped[int] = mapped_column(sa.BigInteger)  # kopecks
    speed_mbps: Mapped[int | None] = mapped_column()
    channels: Mapped[int | None] = mapped_column()
    group_id: Mapped[int | None] = mapped_column(index=True)
    takes_effect: Mapped[TakesEffect] = mapped_column(
        enum_type(TakesEffect), default=TakesEffect.NEXT_MONTH, server_default="next_month"
    )
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    group: Mapped[TariffGroup | None] = relationship(
        back_populates="tariffs", primaryjoin="foreign(Tariff.group_id) == TariffGroup.id"
    )


# An exclusion between two add-ons, stored once: the smaller id first.
service_exclusions = sa.Table(
    "service_exclusions",
    Base.metadata,
    sa.Column("first_id", sa.ForeignKey("services.id"), primary_key=True),
    sa.Column("second_id", sa.ForeignKey("services.id"), primary_key=True, index=True),
    sa.CheckConstraint("first_id < second_id", name="stored_once"),
)


class Service(Base):
    """An add-on: static IP, antivirus, a set-top box rental ..."""

    __tablename__ = "services"
    __table_args__ = (
        sa.CheckConstraint("monthly_price >= 0", name="price_not_negative"),
        sa.CheckConstraint(
            "requires_group_id IS NULL OR requires_tariff_id IS NULL", name="one_requirement"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    monthly_price: Mapped[int] = mapped_column(sa.BigInteger)  # kopecks
    starts: Mapped[AddonStart] = mapped_column(
        enum_type(AddonStart), default=AddonStart.TOMORROW, server_default="tomorrow"
    )
    requires_group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tariff_groups.id"))
    requires_tariff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tariffs.id"))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    requires_group: Mapped[TariffGroup | None] = relationship()
    requires_tariff: Mapped[Tariff | None] = relationship()
    # The two halves of the symmetric exclusion (portal.domain.catalog.excluded joins them).
    excludes_later: Mapped[list[Service]] = relationship(
        secondary=service_exclusions,
        primaryjoin=lambda: Service.id == service_exclusions.c.first_id,
        secondaryjoin=lambda: Service.id == service_exclusions.c.second_id,
        back_populates="excludes_earlier",
    )
    excludes_earlier: Mapped[list[Service]] = relationship(
        secondary=service_exclusions,
        primaryjoin=lambda: Service.id == service_exclusions.c.second_id,
        secondaryjoin=lambda: Service.id == service_exclusions.c.first_id,
        back_populates="excludes_later",
    )
