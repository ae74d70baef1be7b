"""Factories: each returns what the test asks for, made through the domain functions."""

import itertools
from datetime import date

from portal.domain import ledger, staff, subscribers, totp
from portal.models import EntryKind, Service, StaffRole, Tariff, TariffKind

_numbers = itertools.count(1000)
PASSWORD = "correct-horse-42"


def create_tariff(session, *, price: int = 600_00, kind=TariffKind.INTERNET, name=None) -> Tariff:
    n = next(_numbers)
    tariff = Tariff(code=f"t{n}", kind=kind, name=name or f"Тариф {n}", monthly_price=price)
    session.add(tariff)
    session.flush()
    return tariff


def create_service(session, *, price: int = 150_00, name=None) -> Service:
    n = next(_numbers)
    service = Service(code=f"s{n}", name=name or f"Услуга {n}", monthly_price=price)
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
