"""Starting a payment: what the Pay page offers, the payment row written before the
payer leaves, and its registration with the acquirer.

The view commits between `create_payment` and `register`, so that every payment the
acquirer may ever report has a row to land on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, billing, promised, suspension
from portal.domain.payments.acquirers.base import NewPayment, PaymentProvider
from portal.domain.payments.amounts import Limits
from portal.domain.payments.errors import CreationKeyReused, ProviderUnavailable
from portal.domain.payments.settle import apply_remote, lock, record
from portal.models import Account, Payment, PaymentMethod, PaymentStatus

# Round sums offered after the recommended one and the monthly price.
ROUND_SUMS = (500_00, 1000_00, 2000_00)


class PresetKind(enum.StrEnum):
    RECOMMENDED = "recommended"  # pays everything up to the end of next month
    MONTHLY = "monthly"  # a month of everything running today
    ROUND = "round"


@dataclass(frozen=True)
class Preset:
    kind: PresetKind
    amount: int  # kopecks


@dataclass(frozen=True)
class Offer:
    """What the Pay page offers an account today."""

    forecast: billing.Forecast  # how long the balance lasts now
    presets: tuple[Preset, ...]  # each sum once, all within the limits
    suggested: int | None  # the sum filled in (the recommended one, if within limits)


@dataclass(frozen=True)
class AfterPaying:
    """The balance after paying `amount`, and how long it lasts."""

    amount: int
    balance: int
    forecast: billing.Forecast
    repays: int = 0  # kopecks of it that repay a running promised payment (its credit back)


def offer(
    db: Session, account: Account, today: date, limits: Limits, *, block_threshold: int
) -> Offer:
    """The recommended sum, the monthly price, then round sums; each once, in limits."""
    forecast = billing.account_forecast(db, account, today, block_threshold=block_threshold)
    candidates = (
        Preset(PresetKind.RECOMMENDED, forecast.recommended_top_up),
        Preset(PresetKind.MONTHLY, billing.monthly_total(account.subscriptions, today)),
        *(Preset(PresetKind.ROUND, value) for value in ROUND_SUMS),
    )
    presets: list[Preset] = []
    for preset in candidates:
        if limits.allow(preset.amount) and preset.amount not in {p.amount for p in presets}:
            presets.append(preset)
    suggested = forecast.recommended_top_up
    return Offer(forecast, tuple(presets), suggested if limits.allow(suggested) else None)


def after_paying(
    db: Session, account: Account, amount: int, today: date, *, block_threshold: int
) -> AfterPaying:
    """The account as settle.credit leaves it: a payment that covers the running promised
    payment takes its credit back at once (promised.repay_if_covered), so the balance is
    less the credit and nothing holds the block off any more."""
    balance = account.balance + amount
    promise = promised.running(db, account.id)
    credit_back = promised.credit_back(db, promise, today)
    repays = 0
    if promise is not None and promised.repaid_so_far(db, promise) + amount >= promise.amount:
        repays, credit_back = promise.amount, None
    forecast = billing.forecast_with(
        account,
        today,
        block_threshold=block_threshold,
        pauses=suspension.of_account(db, account.id),
        credit_back=credit_back,
        balance=balance - repays,
    )
    return AfterPaying(amount, balance - repays, forecast, repays)


def description(account: Account) -> str:
    """What the payment is for, as the acquirer, the bank and the payer's statement show
    it (the payee's language: Russian)."""
    return f"Оплата услуг связи, договор {account.contract_number}"


def create_payment(
    db: Session,
    account: Account,
    *,
    amount: int,
    method: PaymentMethod,
    creation_key: str,
    provider: str,
    actor: str,
    address: str | None = None,
) -> tuple[Payment, bool]:
    """The payment row for one submitted Pay form, written before the payer leaves.

    The same form sent again (a double tap, a reload) finds the row it made the first
    time: (payment, False). The unique creation key decides, not a look-up in Python.
    """
    existing = _by_creation_key(db, creation_key)
    if existing is None:
        moment = clock.now()
        payment = Payment(
            account_id=account.id,
            amount=amount,
            currency="RUB",
            method=method,
            provider=provider,
            status=PaymentStatus.CREATED,
            creation_key=creation_key,
            fiscal_receipt={},
            created_at=moment,
            updated_at=moment,
        )
        try:
            with db.begin_nested():
                db.add(payment)
                db.flush()
        except IntegrityError:
            existing = _by_creation_key(db, creation_key)
            if existing is None:
                raise
        else:
            audit.record(
                db,
                "payment.created",
                actor=actor,
                account_id=account.id,
                address=address,
                payment_id=payment.id,
                amount=amount,
                method=method.value,
                provider=provider,
            )
            return payment, True
    if (existing.account_id, existing.amount, existing.method) != (account.id, amount, method):
        raise CreationKeyReused(creation_key)
    return existing, False


def register(
    db: Session,
    payment: Payment,
    provider: PaymentProvider,
    *,
    return_url: str,
    notify_url: str,
    actor: str,
    block_threshold: int,
) -> Payment:
    """Register the payment with the acquirer; afterwards it has a confirmation_url.

    Raises ProviderUnavailable (recorded) when the acquirer does not answer: the row
    stays as it was, and the same form can be sent again. Registering twice is harmless:
    the acquirer gets our row's id as the idempotence key. An acquirer that answers
    "succeeded" at once credits the payment (a block for debt lifts at `block_threshold`).
    """
    if payment.provider_payment_id and payment.confirmation_url:
        return payment
    account = db.get(Account, payment.account_id)
    request = NewPayment(
        payment_id=payment.id,
        idempotence_key=f"{payment.id}-{int(payment.created_at.timestamp() * 1000)}",
        amount=payment.amount,
        currency=payment.currency,
        method=payment.method.value,
        description=description(account),
        return_url=return_url,
        notify_url=notify_url,
        contract=account.contract_number,
        customer_phone=account.person.phone or None,
    )
    try:
        remote = provider.create(request)
    except ProviderUnavailable as exc:
        audit.record(
            db,
            "payment.provider_unavailable",
            actor=actor,
            account_id=payment.account_id,
            payment_id=payment.id,
            step="create",
            reason=str(exc)[:200],
        )
        raise
    payment = lock(db, payment.id)
    if payment.provider_payment_id is None:
        payment.provider_payment_id = remote.provider_payment_id
    payment.confirmation_url = remote.confirmation_url
    payment.updated_at = clock.now()
    record(db, "payment.registered", payment, actor, provider_payment_id=remote.provider_payment_id)
    apply_remote(db, payment, remote, actor=actor, block_threshold=block_threshold)
    return payment


def _by_creation_key(db: Session, key: str) -> Payment | None:
    return db.scalar(sa.select(Payment).where(Payment.creation_key == key))
