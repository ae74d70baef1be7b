"""The sandbox acquirer's own records: what a real acquirer keeps on its side.

The built-in test acquirer (portal.domain.payments.acquirers.sandbox) keeps its payments
here, apart from the portal's, so the portal asks it about them exactly as it asks a real
acquirer.
No card number is ever stored: only the last four digits of a test card.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime


class SandboxPayment(Base):
    __tablename__ = "sandbox_payments"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="positive_amount"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    idempotence_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)  # kopecks
    currency: Mapped[str] = mapped_column(sa.String(3))
    method: Mapped[str] = mapped_column(sa.String(16))  # bank_card, sbp
    # pending, waiting_for_capture (the payer's bank asks for a confirmation), succeeded,
    # canceled: the states and names a real acquirer (YooKassa) uses.
    status: Mapped[str] = mapped_column(sa.String(24))
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(64))
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    return_url: Mapped[str] = mapped_column(sa.String(2000))
    notify_url: Mapped[str] = mapped_column(sa.String(2000))
    payment_metadata: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    card_last4: Mapped[str | None] = mapped_column(sa.String(4))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
