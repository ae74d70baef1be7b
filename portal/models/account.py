"""The subscriber's account: one contract, one personal account, one cached balance."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.types import UTCDateTime, enum_type


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"  # blocked for debt
    SUSPENDED = "suspended"  # paused at the subscriber's request
    # Blocked by the provider's staff, with a reason: a payment does not lift it and
    # billing does not charge through it (billing charges only active accounts).
    BLOCKED_BY_PROVIDER = "provider_blocked"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    contract_number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    personal_account: Mapped[str] = mapped_column(sa.String(32), unique=True)
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    # Where technicians are dispatched by; one of the provider's districts, or "".
    district: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    status: Mapped[AccountStatus] = mapped_column(
        enum_type(AccountStatus),
        default=AccountStatus.ACTIVE,
    )
    # Why the staff blocked the account (set with BLOCKED_BY_PROVIDER, else None).
    block_reason: Mapped[str | None] = mapped_column(sa.String(300))
    # Kopecks. Changed only by portal.domain.ledger, in the transaction that adds the entry.
    balance: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    person: Mapped[Person] = relationship(back_populates="accounts")  # noqa: F821
    subscriptions: Mapped[list[Subscription]] = relationship(  # noqa: F821
        back_populates="account", order_by="Subscription.id"
    )
