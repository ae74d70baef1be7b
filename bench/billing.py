"""How long the daily billing run takes for many subscribers, on SQLite or PostgreSQL.

    .venv/bin/python bench/billing.py [--subscribers 100000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Without --database-url it runs on a temporary SQLite file; with a PostgreSQL URL it
creates a database of its own on that server and drops it afterwards. It builds the
subscribers with a few set-based statements (2 or 3 subscriptions each, some accounts
blocked, suspended or short of money, a few subscriptions ended or not started), then
times one day's run, the same day again with its billing_days row removed (so every
charge is found by its ledger key), the low-balance warnings after it (twice: the second
warns no one), and, on the last line, a second run of the day.
Goals: the first run under 10 s for 100,000 subscribers, the second under 1 s.
"""

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tools/ is beside bench/

from portal import clock
from portal.domain import billing
from portal.domain.auth import credentials
from portal.domain.billing import low_balance
from portal.extensions import db
from portal.models import BillingDay, Service, Tariff, TariffKind
from portal.models.types import UTCDateTime
from tools.scratch_db import migrated_app, scratch_database

DAY = date(2026, 12, 10)
GOAL_SECONDS = 10
AGAIN_GOAL_SECONDS = 1
PREFIX = "bench-"

# code, monthly price (kopecks); the odd prices make the daily shares differ by a kopeck.
INTERNET = [("bench-net-0", 450_00), ("bench-net-1", 650_00), ("bench-net-2", 1000_01)]
TV = [("bench-tv-0", 250_00), ("bench-tv-1", 420_00)]
ADDONS = [("bench-addon-0", 150_00), ("bench-addon-1", 99_00), ("bench-addon-2", 31_00)]

# Whole numbers 1..:count, on both databases.
_SERIES = (
    "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < :count)"
)
# The benchmark's own accounts (a test builds them beside others).
_OURS = (
    "SELECT a.id FROM accounts a JOIN people p ON p.id = a.person_id "
    f"WHERE p.login LIKE '{PREFIX}%'"
)

_SUBSCRIPTIONS = (
    "INSERT INTO subscriptions (account_id, tariff_id, service_id, started_on, ended_on) "
)

_STEPS = [
    (
        "people",
        "INSERT INTO people (login, password_hash, name, phone, created_at, "
        "password_changed_at, must_change_password, failed_sign_ins) "
        f"{_SERIES} SELECT '{PREFIX}' || n, :password_hash, 'Абонент ' || n, "
        "'+7978' || (1000000 + n), :now, :now, false, 0 FROM series",
    ),
    # Most accounts are active with a month or more paid in; the n-th: every 20th has 10 roubles
    # (the run blocks it), every 200th is blocked with a debt, every 1000th is blocked
    # though paid up (the run lifts it), every 500th is suspended.
    (
        "accounts",
        "INSERT INTO accounts (person_id, contract_number, personal_account, address, "
        "district, status, balance, created_at) "
        "SELECT id, 'B' || n, 'LS' || n, 'Ялта, ул. Тестовая, д. ' || (n % 300), '', "
        "CASE WHEN n % 200 = 1 OR n % 1000 = 7 THEN 'blocked' "
        "WHEN n % 500 = 3 THEN 'suspended' ELSE 'active' END, "
        "CASE WHEN n % 200 = 1 THEN -150 * 100 WHEN n % 20 = 0 THEN 10 * 100 "
        "ELSE 1000 * 100 + (n % 997) * 100 END, :now "
        f"FROM (SELECT id, CAST(substr(login, {len(PREFIX) + 1}) AS INTEGER) AS n FROM people "
        f"WHERE login LIKE '{PREFIX}%') numbered ORDER BY n",
    ),
    (
        "opening balances",
        "INSERT INTO ledger_entries (account_id, kind, amount, balance_after, "
        "idempotency_key, description, created_at) "
        "SELECT id, CASE WHEN balance > 0 THEN 'payment' ELSE 'correction' END, balance, "
        f"balance, 'bench:opening:' || id, 'Начальный остаток', :now FROM accounts "
        f"WHERE id IN ({_OURS})",
    ),
    # An internet tariff each; a TV tariff (even ids) or an add-on (odd ids); and every
    # third account a second add-on, of which a tenth ended before the day and a tenth
    # starts after it.
    (
        "internet",
        _SUBSCRIPTIONS + "SELECT a.id, t.id, NULL, :start, NULL FROM accounts a "
        "JOIN tariffs t ON t.code = 'bench-net-' || (a.id % 3) "
        f"WHERE a.id IN ({_OURS})",
    ),
    (
        "tv",
        _SUBSCRIPTIONS + "SELECT a.id, t.id, NULL, :start, NULL FROM accounts a "
        "JOIN tariffs t ON t.code = 'bench-tv-' || (a.id / 2 % 2) "
        f"WHERE a.id % 2 = 0 AND a.id IN ({_OURS})",
    ),
    (
        "add-ons",
        _SUBSCRIPTIONS + "SELECT a.id, NULL, s.id, :start, NULL FROM accounts a "
        "JOIN services s ON s.code = 'bench-addon-' || (a.id % 3) "
        f"WHERE a.id % 2 = 1 AND a.id IN ({_OURS})",
    ),
    (
        "second add-ons",
        _SUBSCRIPTIONS + "SELECT a.id, NULL, s.id, "
        "CASE WHEN a.id % 30 = 3 THEN :later ELSE :start END, "
        "CASE WHEN a.id % 30 = 0 THEN :ended ELSE NULL END FROM accounts a "
        "JOIN services s ON s.code = 'bench-addon-' || ((a.id / 3 + 1) % 3) "
        f"WHERE a.id % 3 = 0 AND a.id IN ({_OURS})",
    ),
]


def build(db: Session, subscribers: int, day: date = DAY) -> None:
    """`subscribers` people with an account each, paid in through the ledger, with 2
    or 3 subscriptions each that began a month before `day`: a statement a table."""
    for code, price in INTERNET + TV:
        kind = TariffKind.TV if code.startswith("bench-tv") else TariffKind.INTERNET
        db.add(Tariff(code=code, kind=kind, name=code, monthly_price=price))
    for code, price in ADDONS:
        db.add(Service(code=code, name=code, monthly_price=price))
    db.flush()
    values = {
        "count": subscribers,
        "password_hash": credentials.hash_password("bench-password-2026"),
        "now": clock.now(),
        "start": day - timedelta(days=31),
        "later": day + timedelta(days=1),
        "ended": day - timedelta(days=1),
    }
    for _name, statement in _STEPS:
        text = sa.text(statement)
        if ":now" in statement:
            text = text.bindparams(sa.bindparam("now", type_=UTCDateTime()))
        db.execute(text, values)


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def run_once(day: date) -> billing.RunResult:
    """One run of the day in its own session and transaction, as `portal billing run`."""
    session = db.new_session()
    try:
        result = billing.run_day(session, day, block_threshold=0, actor="bench")
        session.commit()
        return result
    finally:
        session.close()


def warn_once(day: date) -> tuple[low_balance.WarnResult, int]:
    """The low-balance warnings after the run, as `portal billing run` does them, and the
    SQL statements they took."""
    statements = []

    def count(*_args) -> None:
        statements.append(1)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    session = db.new_session()
    try:
        result = low_balance.warn(session, day, days=3, block_threshold=0)
        session.commit()
        return result, len(statements)
    finally:
        session.close()
        sa.event.remove(db.engine, "before_cursor_execute", count)


def bench(subscribers: int) -> tuple[float, float]:
    session = db.new_session()
    seconds, _ = timed(lambda: (build(session, subscribers), session.commit()))
    count = session.scalar(sa.select(sa.func.count()).select_from(sa.table("subscriptions")))
    session.close()
    dialect = db.engine.dialect.name
    print(f"{subscribers} subscribers, {count} subscriptions, {dialect}: built in {seconds:.1f} s")
    if dialect == "postgresql":
        # Fresh tables, as autovacuum would leave them after a bulk load.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")

    first, result = timed(lambda: run_once(DAY))
    print(
        f"first run of {DAY}: {first:.2f} s (goal: under {GOAL_SECONDS} s): charged "
        f"{result.charged_accounts} accounts, {result.charges} charges, "
        f"{result.kopecks / 100:.2f} RUB; blocked {result.blocked}, unblocked {result.unblocked}"
    )
    session = db.new_session()
    session.execute(sa.delete(BillingDay).where(BillingDay.day == DAY))
    session.commit()
    session.close()
    keyed, result = timed(lambda: run_once(DAY))
    print(
        f"the day again with its billing_days row removed: {keyed:.2f} s, "
        f"{result.charges} charges (each found by its ledger key)"
    )
    warned_in, (warned, statements) = timed(lambda: warn_once(DAY))
    print(
        f"low-balance warnings after the run: {warned_in:.2f} s, {warned.candidates} "
        f"candidates forecast, {warned.warned} warned, {statements} SQL statements"
    )
    rewarned_in, (warned, statements) = timed(lambda: warn_once(DAY))
    print(
        f"the warnings again: {rewarned_in:.2f} s, {warned.warned} warned (once per "
        f"occasion), {statements} SQL statements"
    )
    again, result = timed(lambda: run_once(DAY))
    assert result.already_run
    print(f"second run of the same day: {again:.3f} s (goal: under {AGAIN_GOAL_SECONDS} s)")
    return first, again


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with scratch_database(args.database_url, "portal_billing_bench") as url:
        app = migrated_app(url)
        with app.app_context():
            bench(args.subscribers)
            db.engine.dispose()


if __name__ == "__main__":
    main()
