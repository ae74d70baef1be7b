"""Promotions and special offers: what marketing publishes to subscribers (everyone, or
the holders of chosen tariffs and/or the accounts of chosen districts), its optional
picture, and the one push of each promotion with its counts."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime, enum_type


class PromotionState(enum.StrEnum):
    DRAFT = "draft"  # marketing's to edit; no subscriber sees it
    PUBLISHED = "published"  # shown to its audience from its first day to its last
    WITHDRAWN = "withdrawn"  # taken back: shown to nobody, kept for the record


class Promotion(Base):
    __tablename__ = "promotions"
    __table_args__ = (
        sa.CheckConstraint("ends_on >= starts_on", name="dates_in_order"),
        sa.CheckConstraint(
            "(promo_price IS NULL) = (promo_months IS NULL) AND (promo_price IS NULL"
            " OR (promo_price >= 0 AND promo_months >= 1 AND promo_months <= 24))",
            name="promo_price_whole",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(120))
    text: Mapped[str] = mapped_column(sa.String(4000))  # the terms, plain text
    starts_on: Mapped[date] = mapped_column(sa.Date)  # the provider's days, both included
    ends_on: Mapped[date] = mapped_column(sa.Date)
    # The audience: both empty is everyone; else the holders of one of these tariffs
    # (ids) and the accounts of one of these districts.
    tariff_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    districts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # The action: "connect this add-on", leading to its confirm page.
    action_service_id: Mapped[int | None] = mapped_column(sa.ForeignKey("services.id"))
    # The action's promotional price: the add-on's monthly price, kopecks, for its first
    # promo_months months from the day it starts (both or neither; None: the catalogue's).
    promo_price: Mapped[int | None] = mapped_column()
    promo_months: Mapped[int | None] = mapped_column()
    state: Mapped[PromotionState] = mapped_column(
        enum_type(PromotionState), default=PromotionState.DRAFT
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int] = mapped_column(sa.ForeignKey("staff_members.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    has_image: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Bumped with each change of the picture: the picture's URL carries it.
    image_version: Mapped[int] = mapped_column(default=0, server_default="0")


class PromotionImage(Base):
    """A promotion's picture, checked by decoding it; kept apart so that lists of
    promotions never load the bytes."""

    __tablename__ = "promotion_images"

    promotion_id: Mapped[int] = mapped_column(sa.ForeignKey("promotions.id"), primary_key=True)
    content_type: Mapped[str] = mapped_column(sa.String(16))  # image/jpeg, image/png, image/webp
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class PromotionPush(Base):
    """The push of a promotion to its audience, batch by batch (one per promotion: the
    unique key keeps a double click from sending twice)."""

    __tablename__ = "promotion_pushes"

    id: Mapped[int] = mapped_column(primary_key=True)
    promotion_id: Mapped[int] = mapped_column(sa.ForeignKey("promotions.id"), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_by: Mapped[int] = mapped_column(sa.ForeignKey("staff_members.id"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the last batch moved the cursor: a push unfinished and quiet for long lost
    # its next job (a restart), and the sweep hands it on again.
    progressed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The last person reached: the next batch starts after them.
    cursor: Mapped[int] = mapped_column(default=0)
    people: Mapped[int] = mapped_column(default=0)  # written to the notification centre
    sent: Mapped[int] = mapped_column(default=0)  # pushes the push service accepted
    failed: Mapped[int] = mapped_column(default=0)  # given up
    removed: Mapped[int] = mapped_column(default=0)  # 404/410: the device was removed
    retrying: Mapped[int] = mapped_column(default=0)  # handed to the push retries
