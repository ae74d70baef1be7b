"""Demo data: a provider with a catalogue and a few subscribers with months of history.

Loaded by `portal demo`; loading twice keeps what is there. Money moves through the
ledger and billing exactly as in production, so the demo shows real arithmetic.
"""

from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import billing, ledger, staff, subscribers
from portal.models import (
    Account,
    AccountStatus,
    EntryKind,
    Person,
    Service,
    StaffRole,
    Tariff,
    TariffKind,
)

DEMO_LOGIN = "demo"
DEMO_PASSWORD = "onecity-demo"
DEMO_CONTRACT = "100001"
DEMO_ADMIN_LOGIN = "admin"
DEMO_ADMIN_PASSWORD = "onecity-admin-demo"
HISTORY_DAYS = 92

TARIFFS = [
    # code, kind, name, monthly price in kopecks, speed, channels, description
    ("net-start", TariffKind.INTERNET, "Старт", 450_00, 50, None, "До 50 Мбит/с"),
    ("net-city", TariffKind.INTERNET, "Город", 650_00, 200, None, "До 200 Мбит/с"),
    ("net-max", TariffKind.INTERNET, "Максимум", 950_00, 500, None, "До 500 Мбит/с"),
    ("tv-basic", TariffKind.TV, "ТВ Базовый", 250_00, None, 90, "90 каналов"),
    ("tv-plus", TariffKind.TV, "ТВ Расширенный", 420_00, None, 180, "180 каналов, 40 в HD"),
]
SERVICES = [
    ("static-ip", "Статический IP-адрес", 150_00, "Постоянный внешний адрес"),
    ("antivirus", "Антивирус", 99_00, "Защита для трёх устройств"),
    ("stb-rent", "Аренда ТВ-приставки", 100_00, "Приставка для второго телевизора"),
    ("wifi-rent", "Аренда Wi-Fi роутера", 120_00, "Двухдиапазонный роутер"),
]

# contract, login, name, phone, address, tariffs, services, monthly payment (kopecks) or 0
SUBSCRIBERS = [
    (
        DEMO_CONTRACT,
        DEMO_LOGIN,
        "Анна Петровна Иванова",
        "+7 978 000-00-01",
        "Ялта, ул. Набережная, д. 1, кв. 5",
        ("net-city", "tv-basic"),
        ("static-ip",),
        1100_00,
    ),
    (
        "100002",
        None,
        "Анна Петровна Иванова",
        "+7 978 000-00-01",
        "Ялта, пгт Массандра, ул. Садовая, д. 12",
        ("net-start",),
        (),
        500_00,
    ),
    (
        "100003",
        "petrov",
        "Пётр Сергеевич Петров",
        "+7 978 000-00-03",
        "Ялта, ул. Киевская, д. 20, кв. 11",
        ("net-max", "tv-plus"),
        ("stb-rent",),
        0,
    ),
    (
        "100004",
        "sidorova",
        "Мария Ивановна Сидорова",
        "+7 978 000-00-04",
        "Ялта, ул. Московская, д. 8, кв. 2",
        ("net-start",),
        ("antivirus",),
        600_00,
    ),
]
SUSPENDED = "100004"


def load(db: Session, today: date, *, block_threshold: int) -> bool:
    """Load the demo provider unless it is there already; True when it was loaded now."""
    if db.scalar(sa.select(Person.id).where(Person.login == DEMO_LOGIN)) is not None:
        return False
    _load_catalogue(db)
    start = today - timedelta(days=HISTORY_DAYS)
    owner = None
    monthly_payments = {}
    for contract, login, name, phone, address, tariffs, services, pays in SUBSCRIBERS:
        if owner is not None and owner.name == name:
            account = subscribers.add_account(
                db,
                owner,
                contract_number=contract,
                address=address,
                tariff_codes=tariffs,
                service_codes=services,
                start=start,
            )
        else:
            new = subscribers.create_subscriber(
                db,
                contract_number=contract,
                login=login,
                name=name,
                phone=phone,
                address=address,
                tariff_codes=tariffs,
                service_codes=services,
                start=start,
                password=DEMO_PASSWORD,
                actor="demo",
            )
            owner, account = new.person, new.account
        monthly_payments[account.id] = pays
    db.flush()
    _replay_history(db, start, today, monthly_payments, block_threshold)
    _suspend(db, SUSPENDED)
    return True


def load_staff(db: Session) -> bool:
    """The demo's console administrator, unless there is one; True when made now."""
    if staff.find_by_login(db, DEMO_ADMIN_LOGIN) is not None:
        return False
    staff.create_staff(
        db,
        login=DEMO_ADMIN_LOGIN,
        name="Администратор (демо)",
        role=StaffRole.ADMIN,
        password=DEMO_ADMIN_PASSWORD,
        actor="demo",
    )
    return True


def _load_catalogue(db: Session) -> None:
    for code, kind, name, price, speed, channels, description in TARIFFS:
        db.add(
            Tariff(
                code=code,
                kind=kind,
                name=name,
                monthly_price=price,
                speed_mbps=speed,
                channels=channels,
                description=description,
            )
        )
    for code, name, price, description in SERVICES:
        db.add(Service(code=code, name=name, monthly_price=price, description=description))
    db.flush()


def _replay_history(
    db: Session, start: date, today: date, payments: dict[int, int], block_threshold: int
) -> None:
    """A first payment at connection, then one on the 3rd of each month; charges daily."""
    day = start
    while day <= today:
        for account_id, amount in payments.items():
            first_day = day == start
            if amount and (first_day or day.day == 3):
                ledger.post(
                    db,
                    account_id,
                    EntryKind.PAYMENT,
                    amount,
                    key=f"demo:payment:{account_id}:{day.isoformat()}",
                    description="Оплата картой",
                )
            elif first_day:
                ledger.post(
                    db,
                    account_id,
                    EntryKind.PAYMENT,
                    1500_00,
                    key=f"demo:payment:{account_id}:{day.isoformat()}",
                    description="Оплата в офисе",
                )
        billing.run_day(db, day, block_threshold=block_threshold, actor="demo")
        day += timedelta(days=1)


def _suspend(db: Session, contract: str) -> None:
    account = db.scalar(sa.select(Account).where(Account.contract_number == contract))
    account.status = AccountStatus.SUSPENDED
