"""Demo data: a provider with a catalogue and a few subscribers with months of history.

Loaded by `portal demo`; loading twice keeps what is there. Money moves through the
ledger and billing exactly as in production, so the demo shows real arithmetic.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import billing, catalog_keeping, ledger, staff, subscribers
from portal.domain.payments import settle, states
from portal.domain.payments.start import create_payment
from portal.models import (
    Account,
    AccountStatus,
    AddonStart,
    EntryKind,
    PaymentMethod,
    PaymentStatus,
    Person,
    Service,
    StaffRole,
    Suspension,
    TakesEffect,
    Tariff,
    TariffGroup,
    TariffKind,
)

DEMO_LOGIN = "demo"
DEMO_PASSWORD = "onecity-demo"
DEMO_CONTRACT = "100001"
DEMO_ADMIN_LOGIN = "admin"
DEMO_ADMIN_PASSWORD = "onecity-admin-demo"
HISTORY_DAYS = 92

GROUPS = [
    # code, kind, name, fees (to a dearer, a cheaper, a same-price tariff), changes a month
    ("home", TariffKind.INTERNET, "Домашний интернет", (0, 100_00, 0), 1),
    ("tv", TariffKind.TV, "Телевидение", (0, 0, 0), 2),
]
GROUP_OF_KIND = {TariffKind.INTERNET: "home", TariffKind.TV: "tv"}
TARIFFS = [
    # code, kind, name, monthly price in kopecks, speed, channels, description
    ("net-start", TariffKind.INTERNET, "Старт", 450_00, 50, None, "До 50 Мбит/с"),
    ("net-classic", TariffKind.INTERNET, "Классик", 500_00, 100, None, "До 100 Мбит/с"),
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
    ("antivirus-family", "Антивирус Семья", 179_00, "Защита для пяти устройств"),
]
# The catalogue's rules: a change to a dearer tariff takes effect at once (the others on
# the first of next month); add-ons that start at once (the others tomorrow); the group
# an add-on requires; add-ons that cannot be held together; what is no longer offered
# but still held by a subscriber.
CHANGE_TODAY = {"net-city", "net-max", "tv-plus"}
START_TODAY = {"static-ip", "antivirus", "antivirus-family"}
REQUIRES = {"static-ip": "home", "wifi-rent": "home", "stb-rent": "tv"}
EXCLUSIONS = [("antivirus", "antivirus-family")]
ARCHIVED_TARIFFS = ("net-classic",)

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
        ("net-classic",),
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


def load(db: Session, today: date, *, tz: str, block_threshold: int) -> bool:
    """Load the demo provider unless it is there already; True when it was loaded now.
    `tz` is the provider's time zone (the days the history is booked on)."""
    if db.scalar(sa.select(Person.id).where(Person.login == DEMO_LOGIN)) is not None:
        return False
    load_catalogue(db)
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
    for code in ARCHIVED_TARIFFS:
        db.scalar(sa.select(Tariff).where(Tariff.code == code)).archived_at = clock.now()
    _replay_history(db, start, today, monthly_payments, tz, block_threshold)
    _suspend(db, SUSPENDED, today)
    _load_visits(db)
    return True


DEMO_DISTRICT = "Ялта-центр"


def _load_visits(db: Session) -> None:
    """Technician visits: the demo's accounts in one district, its weekly windows
    (Monday to Saturday, morning and afternoon) and two technicians."""
    from portal.domain.visits import schedule
    from portal.models import Account, Technician

    for account in db.scalars(sa.select(Account)):
        account.district = DEMO_DISTRICT
    for weekday in range(6):
        for starts, ends in ((time(9), time(12)), (time(14), time(17))):
            schedule.set_template(db, DEMO_DISTRICT, weekday, starts, ends, 3, actor="demo")
    for name, phone in (("Пётр Мастеров", "+79780000101"), ("Анна Кабельная", "+79780000102")):
        db.add(Technician(name=name, phone=phone, districts=[DEMO_DISTRICT], active=True))
    db.flush()


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


def load_promotion(db: Session, today: date) -> bool:
    """One promotion for everyone, running from a few days ago for a month, whose action
    connects the Wi-Fi router at a promotional price: the Offers page is not empty. Made
    by the demo's administrator, unless there is a promotion already; True when made now."""
    from portal.domain.promos import promotions
    from portal.models import Promotion, PromotionState

    if db.scalar(sa.select(Promotion.id).limit(1)) is not None:
        return False
    admin = staff.find_by_login(db, DEMO_ADMIN_LOGIN)
    router = db.scalar(sa.select(Service).where(Service.code == "wifi-rent"))
    if admin is None or router is None:
        return False
    draft = promotions.Draft(
        title="Wi-Fi роутер за 1 ₽",
        text="Три месяца аренды двухдиапазонного роутера — за 1 ₽ в месяц, потом по "
        "обычной цене. Подключите до конца акции.",
        starts_on=today - timedelta(days=3),
        ends_on=today + timedelta(days=30),
        action_service_id=router.id,
        promo_price=1_00,
        promo_months=3,
    )
    promotion = promotions.create(db, draft, known_districts=(), staff_id=admin.id)
    promotions.move(db, promotion, PromotionState.PUBLISHED, today, staff_id=admin.id)
    return True


def load_catalogue(db: Session) -> None:
    """The demo's tariff groups, tariffs and add-ons alone (bench/load.py builds on them)."""
    groups = {
        code: TariffGroup(
            code=code,
            kind=kind,
            name=name,
            fee_up=up,
            fee_down=down,
            fee_same=same,
            changes_per_month=changes,
        )
        for code, kind, name, (up, down, same), changes in GROUPS
    }
    for code, kind, name, price, speed, channels, description in TARIFFS:
        db.add(
            Tariff(
                code=code,
                kind=kind,
                group=groups[GROUP_OF_KIND[kind]],
                name=name,
                monthly_price=price,
                speed_mbps=speed,
                channels=channels,
                description=description,
                takes_effect=TakesEffect.TODAY if code in CHANGE_TODAY else TakesEffect.NEXT_MONTH,
            )
        )
    addons = {
        code: Service(
            code=code,
            name=name,
            monthly_price=price,
            description=description,
            starts=AddonStart.TODAY if code in START_TODAY else AddonStart.TOMORROW,
            requires_group=groups[REQUIRES[code]] if code in REQUIRES else None,
        )
        for code, name, price, description in SERVICES
    }
    db.add_all(addons.values())
    db.flush()
    for first, second in EXCLUSIONS:
        catalog_keeping.set_exclusions(addons[first], [addons[second]])
    db.flush()


def _replay_history(
    db: Session,
    start: date,
    today: date,
    payments: dict[int, int],
    tz: str,
    block_threshold: int,
) -> None:
    """A first payment at connection, then one by card on the 3rd of each month (each a
    real payment with its receipt); charges daily. Each is booked on its own day (the
    clock is set there while it is replayed), so the history reads as months."""
    previous = clock.current_clock()
    latest = clock.now()  # nothing is booked later than the moment the demo is made
    day = start
    try:
        while day <= today:
            _clock_at(day, time(10, 0), tz, latest)
            for account_id, amount in payments.items():
                first_day = day == start
                if amount and (first_day or day.day == 3):
                    _card_payment(db, account_id, amount, day, block_threshold)
                elif first_day:
                    ledger.post(
                        db,
                        account_id,
                        EntryKind.PAYMENT,
                        1500_00,
                        key=f"demo:payment:{account_id}:{day.isoformat()}",
                        description="Оплата в офисе",
                    )
            _clock_at(day, time(23, 50), tz, latest)
            billing.run_day(db, day, block_threshold=block_threshold, actor="demo")
            day += timedelta(days=1)
    finally:
        clock.set_clock(previous)


def _clock_at(day: date, at: time, tz: str, latest: datetime) -> None:
    """The clock at `at` on `day` in the provider's zone, never later than `latest`."""
    moment = min(datetime.combine(day, at, ZoneInfo(tz)).astimezone(UTC), latest)
    clock.set_clock(lambda: moment)


def _card_payment(
    db: Session, account_id: int, amount: int, day: date, block_threshold: int
) -> None:
    """A card payment through the sandbox acquirer, credited as a real one is (its
    ledger entry and numbered receipt); its fiscal receipt is marked a test."""
    account = db.get(Account, account_id)
    payment, _created = create_payment(
        db,
        account,
        amount=amount,
        method=PaymentMethod.CARD,
        creation_key=f"demo:{account_id}:{day.isoformat()}",
        provider="sandbox",
        actor="demo",
    )
    payment.provider_payment_id = f"demo_{account_id}_{day.isoformat()}"
    payment.fiscal_receipt = {
        "registration": "succeeded",
        "test": True,
        "fiscal_document_number": str(1000 + payment.id),
        "fiscal_storage_number": "9999078900000000",
        "fiscal_attribute": str(3_000_000_000 + payment.id * 7919),
        "registered_at": clock.now().isoformat(),
    }
    states.move(payment, PaymentStatus.SUCCEEDED)
    settle.credit(db, payment, "demo", block_threshold=block_threshold)


def _suspend(db: Session, contract: str, today: date) -> None:
    """The account paused for two weeks from today, as its subscriber would ask."""
    account = db.scalar(sa.select(Account).where(Account.contract_number == contract))
    db.add(
        Suspension(
            account_id=account.id,
            starts_on=today,
            ends_on=today + timedelta(days=13),
            created_at=clock.now(),
        )
    )
    account.status = AccountStatus.SUSPENDED
