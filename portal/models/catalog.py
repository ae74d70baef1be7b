"""The provider's catalogue: tariffs (internet, TV) and add-on services."""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import enum_type


class TariffKind(enum.StrEnum):
    INTERNET = "internet"
    TV = "tv"


class Tariff(Base):
    __tablename__ = "tariffs"
    __table_args__ = (sa.CheckConstraint("monthly_price >= 0", name="price_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    kind: Mapped[TariffKind] = mapped_column(enum_type(TariffKind))
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    monthly_price: Mapped[int] = mapped_column(sa.BigInteger)  # kopecks
    speed_mbps: Mapped[int | None] = mapped_column()
    channels: Mapped[int | None] = mapped_column()
    is_public: Mapped[bool] = mapped_column(default=True)  # offered to new subscriptions


class Service(Base):
    """An add-on: static IP, antivirus, a set-top box rental ..."""

    __tablename__ = "services"
    __table_args__ = (sa.CheckConstraint("monthly_price >= 0", name="price_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    monthly_price: Mapped[int] = mapped_column(sa.BigInteger)  # kopecks
    is_public: Mapped[bool] = mapped_column(default=True)
