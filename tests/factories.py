"""Factories: each returns what the test asks for, made through the domain functions."""

import contextlib
import itertools
from datetime import date

import sqlalchemy as sa

from portal.domain import ledger, staff, subscribers, totp
from portal.models import EntryKind, Service, StaffRole, Tariff, TariffGroup, TariffKind

_numbers = itertools.count(1000)
PASSWORD = "correct-horse-42"


def create_group(
    session, *, kind=TariffKind.INTERNET, fees=(0, 0, 0), changes_per_month=None, name=None
) -> TariffGroup:
    """A tariff group; `fees` for a change up, down and to the same price, kopecks."""
    n = next(_numbers)
    up, down, same = fees
    group = TariffGroup(
        code=f"g{n}",
        kind=kind,
        name=name or f"Группа {n}",
        fee_up=up,
        fee_down=down,
        fee_same=same,
        changes_per_month=changes_per_month,
    )
    session.add(group)
    session.flush()
    return group


def create_tariff(
    session, *, price: int = 600_00, kind=None, name=None, group=None, **fields
) -> Tariff:
    """A tariff (internet unless `kind` or its `group` says otherwise)."""
    n = next(_numbers)
    kind = kind or (group.kind if group is not None else TariffKind.INTERNET)
    tariff = Tariff(
        code=f"t{n}",
        kind=kind,
        name=name or f"Тариф {n}",
        monthly_price=price,
        group=group,
        **fields,
    )
    session.add(tariff)
    session.flush()
    return tariff


def create_service(session, *, price: int = 150_00, name=None, **fields) -> Service:
    n = next(_numbers)
    service = Service(code=f"s{n}", name=name or f"Услуга {n}", monthly_price=price, **fields)
    session.add(service)
    session.flush()
    return service


def create_subscriber(
    session,
    *,
    balance: int = 0,
    tariffs=(),
    services=(),
    start: date = date(2026, 1, 1),
    login: str | None = None,
    password: str = PASSWORD,
    phone: str = "+7 978 123-45-67",
    name: str = "Иван Иванович Иванов",
    contract: str | None = None,
):
    """A subscriber with one account; `balance` kopecks paid in through the ledger."""
    n = next(_numbers)
    new = subscribers.create_subscriber(
        session,
        contract_number=contract or f"{n}",
        login=login or f"user{n}",
        password=password,
        name=name,
        phone=phone,
        address=f"Ялта, ул. Тестовая, д. {n}",
        tariff_codes=tuple(t.code for t in tariffs),
        service_codes=tuple(s.code for s in services),
        start=start,
    )
    if balance:
        kind = EntryKind.PAYMENT if balance > 0 else EntryKind.CORRECTION
        ledger.post(session, new.account.id, kind, balance, key=f"test:opening:{n}")
    session.flush()
    session.refresh(new.account)
    return new


STAFF_PASSWORD = "staff-password-2026"


def create_staff(
    session, *, role=StaffRole.OPERATOR, login=None, password=STAFF_PASSWORD, totp_secret=None
):
    """A member of the provider's staff with a known password; an admin is enrolled in
    two-step sign-in unless `totp_secret` says otherwise ("" for not enrolled)."""
    n = next(_numbers)
    new = staff.create_staff(
        session,
        login=login or f"staff{n}",
        name=f"Сотрудник {n}",
        role=role,
        password=password,
        actor="test",
    )
    if totp_secret is None and role is StaffRole.ADMIN:
        totp_secret = totp.new_secret()
    new.member.totp_secret = totp_secret or None
    session.flush()
    return new.member


_payment_numbers = itertools.count(1)


def create_payment(
    session, account, *, amount: int = 500_00, provider: str = "sandbox", created_at=None
):
    """A card payment of `account`, registered with the acquirer (`provider`) and
    waiting for the payer; `created_at` to place it in time."""
    from portal.domain.payments import start
    from portal.models import PaymentMethod, PaymentStatus

    n = next(_payment_numbers)
    payment, _ = start.create_payment(
        session,
        account,
        amount=amount,
        method=PaymentMethod.CARD,
        creation_key=f"test-payment-{n:020d}-{account.id}",
        provider=provider,
        actor="test",
    )
    payment.provider_payment_id = f"remote-{n}-{account.id}"
    payment.status = PaymentStatus.PENDING
    if created_at is not None:
        payment.created_at = payment.updated_at = created_at
    session.flush()
    return payment


def pay(session, payment, *, amount=None, currency="RUB", status="succeeded", block_threshold=0):
    """What the acquirer reports about `payment` (another `amount` or `currency` puts it
    on review), applied as finish_payment applies it (a block for debt lifts at
    `block_threshold`)."""
    from portal.domain.payments import settle
    from portal.domain.payments.acquirers.base import RemotePayment, RemoteStatus
    from portal.domain.payments.errors import AmountMismatch

    remote = RemotePayment(
        provider_payment_id=payment.provider_payment_id,
        status=RemoteStatus(status),
        amount=payment.amount if amount is None else amount,
        currency=currency,
    )
    with contextlib.suppress(AmountMismatch):
        settle.apply_remote(
            session,
            settle.lock(session, payment.id),
            remote,
            actor="test",
            block_threshold=block_threshold,
        )
    session.flush()
    return payment


def payment_on_review(session, account=None, *, expected=500_00, received=450_00, **remote):
    """A payment the acquirer reported with another sum: on review, nothing credited."""
    account = account or create_subscriber(session).account
    return pay(
        session, create_payment(session, account, amount=expected), amount=received, **remote
    )


class RefundingAcquirer:
    """An acquirer that knows one refund (or none: `refund` None)."""

    name = "sandbox"

    def __init__(self, refund):
        self.refund = refund

    def fetch_refund(self, refund_id):
        from portal.domain.payments.errors import RemoteNotFound

        if self.refund is None or self.refund.refund_id != refund_id:
            raise RemoteNotFound(refund_id)
        return self.refund


def noted_refund(session, payment=None, *, refund_id=None, amount=None, status="succeeded"):
    """A refund made at the acquirer that record_refund could not apply (unknown when
    `payment` is None; else pending, too large, ...): its audit event."""
    from portal.domain.payments import settle
    from portal.domain.payments.acquirers.base import RemoteRefund
    from portal.domain.payments.errors import AmountMismatch, NotificationNoted
    from portal.models import AuditEvent

    refund_id = refund_id or f"refund-{next(_numbers)}"
    refund = payment and RemoteRefund(
        refund_id=refund_id,
        provider_payment_id=payment.provider_payment_id,
        status=status,
        amount=payment.amount if amount is None else amount,
        currency="RUB",
    )
    try:
        settle.record_refund(session, RefundingAcquirer(refund), refund_id, address="192.0.2.1")
    except (NotificationNoted, AmountMismatch):
        pass
    else:
        raise AssertionError("the refund was applied, not noted")
    session.flush()
    return session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()


def credited_payment(session, account, *, amount: int = 500_00, fiscal_receipt=None):
    """A card payment the acquirer reported paid, credited with its ledger entry and its
    numbered receipt (as finish_payment does); `fiscal_receipt` as the acquirer reports."""
    payment = pay(session, create_payment(session, account, amount=amount))
    if fiscal_receipt is not None:
        payment.fiscal_receipt = fiscal_receipt
        session.flush()
    return payment


def create_promotion(
    session,
    member,
    *,
    title="Скорость ×2",
    text="Два месяца удвоенной скорости.\nБез доплаты.",
    starts_on=date(2026, 11, 20),
    ends_on=date(2026, 12, 31),
    tariffs=(),
    districts=(),
    addon=None,
    publish=True,
    promo_price=None,
    promo_months=None,
):
    """A promotion by staff `member` (published unless `publish` is False), running on
    the frozen clock's day by default."""
    from portal.domain.promos import promotions
    from portal.models import PromotionState

    draft = promotions.Draft(
        title=title,
        text=text,
        starts_on=starts_on,
        ends_on=ends_on,
        tariff_ids=tuple(t.id for t in tariffs),
        districts=tuple(districts),
        action_service_id=addon.id if addon is not None else None,
        promo_price=promo_price,
        promo_months=promo_months,
    )
    known = ("Ялта-центр", "Массандра", "Ливадия")
    promotion = promotions.create(session, draft, known_districts=known, staff_id=member.id)
    if publish:
        promotions.move(session, promotion, PromotionState.PUBLISHED, starts_on, staff_id=member.id)
    session.flush()
    return promotion
