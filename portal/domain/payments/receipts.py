"""The portal's receipt of a credited payment (not the fiscal receipt, which the acquirer
issues): numbered once, when the money is credited, and never numbered again.

`issue` is called by settle.credit in the transaction that credits the payment, so every
credited payment has exactly one receipt; its number comes from the database (see
portal.models.receipt). `receipt_of` finds a subscriber's own receipt for the page and
the PDF, with the refunds of the payment (the refunds table ties each refund's ledger
entry to its payment), so a refunded payment's receipt says how much came back and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from portal import clock
from portal.domain.errors import NotFound
from portal.domain.payments.qr import BankDetails
from portal.models import Account, LedgerEntry, Payment, PaymentMethod, Receipt, Refund

# The fiscal receipt's attributes an acquirer may report, in the order they are printed.
FISCAL_FIELDS = (
    "fiscal_document_number",
    "fiscal_storage_number",
    "fiscal_attribute",
    "registered_at",
    "fiscal_provider_id",
    "url",
)


def issue(db: Session, payment: Payment, entry: LedgerEntry) -> Receipt:
    """Number the receipt of a payment just credited by `entry` (once per payment: the
    unique payment and entry refuse a second one)."""
    receipt = Receipt(payment_id=payment.id, ledger_entry_id=entry.id, issued_at=clock.now())
    db.add(receipt)
    db.flush()
    return receipt


@dataclass(frozen=True)
class Requisites:
    """The provider as a receipt names it, from configuration. `bank` is None where the
    bank details are only the built-in examples (production without PORTAL_BANK_*)."""

    brand: str
    site: str
    support_phone: str
    ogrn: str
    legal_address: str
    bank: BankDetails | None

    @classmethod
    def from_config(cls, config: Mapping) -> Requisites:
        shown = bool(config.get("PORTAL_RECEIPT_REQUISITES"))
        return cls(
            brand=config["PORTAL_PROVIDER_NAME"],
            site=config["PORTAL_SITE"],
            support_phone=config["PORTAL_SUPPORT_PHONE"],
            ogrn=config.get("PORTAL_PROVIDER_OGRN") or "",
            legal_address=config.get("PORTAL_PROVIDER_LEGAL_ADDRESS") or "",
            bank=BankDetails.from_config(config) if shown else None,
        )


@dataclass(frozen=True)
class RefundDetails:
    """A refund of the payment, as its receipt shows it."""

    amount: int  # kopecks given back (positive)
    refunded_at: datetime  # the moment it was debited, UTC


@dataclass(frozen=True)
class ReceiptDetails:
    """Everything a receipt shows, whether as a page or as a PDF."""

    number: int
    payment_id: int
    paid_at: datetime  # the moment the money was credited, UTC
    amount: int  # kopecks credited (a payment on review may be credited another sum)
    currency: str
    method: PaymentMethod
    acquirer: str
    acquirer_payment_id: str | None
    payer: str
    contract_number: str
    personal_account: str
    address: str
    fiscal: dict  # what the acquirer reported about the fiscal receipt (FISCAL_FIELDS)
    fiscal_registration: str | None  # succeeded, pending, canceled, or None
    test: bool  # a sandbox payment: no real money moved
    refunds: tuple[RefundDetails, ...] = ()  # oldest first

    @property
    def refunded(self) -> int:
        """Kopecks given back in all."""
        return sum(refund.amount for refund in self.refunds)

    @property
    def refunded_in_full(self) -> bool:
        return bool(self.refunds) and self.refunded >= self.amount


def receipt_of(db: Session, account_ids: list[int], payment_id: int) -> ReceiptDetails:
    """The receipt of a credited payment of one of these accounts; NotFound for anyone
    else's payment and for a payment not credited (it has no receipt)."""
    receipt = db.scalar(
        sa.select(Receipt)
        .join(Payment, Payment.id == Receipt.payment_id)
        .where(Receipt.payment_id == payment_id, Payment.account_id.in_(account_ids))
        .options(
            joinedload(Receipt.payment).joinedload(Payment.account).joinedload(Account.person),
            joinedload(Receipt.ledger_entry),
        )
    )
    if receipt is None:
        raise NotFound(f"receipt of payment {payment_id}")
    payment, entry = receipt.payment, receipt.ledger_entry
    reported = payment.fiscal_receipt or {}
    return ReceiptDetails(
        number=receipt.id,
        payment_id=payment.id,
        paid_at=entry.created_at,
        amount=entry.amount,
        currency=payment.currency,
        method=payment.method,
        acquirer=payment.provider,
        acquirer_payment_id=payment.provider_payment_id,
        payer=payment.account.person.name,
        contract_number=payment.account.contract_number,
        personal_account=payment.account.personal_account,
        address=payment.account.address,
        fiscal={k: str(reported[k]) for k in FISCAL_FIELDS if reported.get(k)},
        fiscal_registration=reported.get("registration") or None,
        test=payment.provider == "sandbox" or bool(reported.get("test")),
        refunds=refunds_of(db, payment.id),
    )


def refunds_of(db: Session, payment_id: int) -> tuple[RefundDetails, ...]:
    """The payment's refunds debited, oldest first."""
    rows = db.execute(
        sa.select(LedgerEntry.amount, LedgerEntry.created_at)
        .join(Refund, Refund.ledger_entry_id == LedgerEntry.id)
        .where(Refund.payment_id == payment_id)
        .order_by(LedgerEntry.id)
    )
    return tuple(RefundDetails(-amount, at) for amount, at in rows)
