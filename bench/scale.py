"""Does the portal stay as fast with a million subscribers as with ten thousand?

    .venv/bin/python bench/scale.py --database-url postgresql://postgres@127.0.0.1:5432/test
        [--subscribers 1000000] [--entries 50] [--baseline 10000] [--rounds 20] [--days 3]

For the baseline and then the full size, in a database of its own on the server (dropped
afterwards), it builds the subscribers of bench/billing.py (2 or 3 subscriptions each)
and `--entries` ledger entries for each, all with set-based SQL, and prints how long the
build took and the database's size on disk. Then it times, for a sample of subscribers
signed in through the real form: the sign-in itself, the home page and the history's
first page (median of `--rounds` requests each), and `--days` billing days in a row for
everyone, each as `portal billing run` does it (the run, then the low-balance warnings),
in seconds per thousand subscribers: the median day is the figure, and the days are
printed, since a day's keys must not cost more for the days already charged. It prints
the EXPLAIN of every query the sign-in and those two pages send and says of each whether
it reads a big table (accounts, people, subscriptions, ledger_entries) without an index.
The last lines are each figure's ratio of the full size to the baseline; the goal is 1.5
or less.
"""

import argparse
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ and tools/

from bench import billing as billing_bench
from portal.extensions import db
from tools.scratch_db import migrated_app, scratch_database

GOAL_RATIO = 1.5
SAMPLE = (2, 5, 11, 14, 17)  # the subscribers whose pages are timed (all active, paid up)
BIG_TABLES = ("accounts", "people", "subscriptions", "ledger_entries")
PASSWORD = "bench-password-2026"  # bench/billing.py's

# A charge's key is the one the billing run gives it (charges.charge_key: its day
# and subscription; tests/test_bench_scale.py holds the two together), so the unique index on the
# keys is laid out as a real ledger's is when the bench's day adds its own.
ENTRIES = """
INSERT INTO ledger_entries
  (account_id, kind, amount, balance_after, idempotency_key, description, service_date,
   created_at)
SELECT a.id,
  CASE WHEN i % 10 = 0 THEN 'payment' ELSE 'charge' END,
  CASE WHEN i % 10 = 0 THEN 50000 ELSE -1500 END,
  a.balance,
  CASE WHEN i % 10 = 0 THEN 'scale:' || a.id || ':' || i
    ELSE 'charge:' || to_char(CAST(:start AS date) + i, 'YYYY-MM-DD') || ':' || s.first END,
  CASE WHEN i % 10 = 0 THEN 'Оплата' ELSE 'Абонентская плата' END,
  CASE WHEN i % 10 = 0 THEN NULL ELSE (CAST(:start AS date) + i) END,
  CAST(:start AS timestamptz) + i * interval '1 day'
FROM accounts a
JOIN scale_first_subscriptions AS s ON s.account_id = a.id
CROSS JOIN generate_series(1, :entries) AS i
WHERE a.id BETWEEN :first AND :last
"""
# Each account's first subscription, read once (a min(id) per account would be planned as
# a walk of the subscriptions' primary key from its start: quadratic at a million).
FIRST_SUBSCRIPTIONS = """
CREATE UNLOGGED TABLE scale_first_subscriptions AS
SELECT account_id, min(id) AS first FROM subscriptions GROUP BY account_id
"""
CHUNK = 50_000  # accounts a statement: a bounded transaction and progress to print


def build(app, subscribers: int, entries: int) -> None:
    started = time.perf_counter()
    with app.app_context():
        session = db.new_session()
        billing_bench.build(session, subscribers)
        session.commit()
        first, last = session.execute(sa.text("SELECT min(id), max(id) FROM accounts")).one()
        session.execute(sa.text(FIRST_SUBSCRIPTIONS))
        session.execute(
            sa.text("ALTER TABLE scale_first_subscriptions ADD PRIMARY KEY (account_id)")
        )
        session.execute(sa.text("ANALYZE scale_first_subscriptions"))
        session.commit()
        for low in range(first, last + 1, CHUNK):
            session.execute(
                sa.text(ENTRIES),
                {
                    "start": "2022-01-01",
                    "entries": entries,
                    "first": low,
                    "last": min(low + CHUNK - 1, last),
                },
            )
            session.commit()
        session.execute(sa.text("DROP TABLE scale_first_subscriptions"))
        session.commit()
        session.close()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
            size = connection.exec_driver_sql(
                "SELECT pg_size_pretty(pg_database_size(current_database()))"
            ).scalar()
            count = connection.exec_driver_sql("SELECT count(*) FROM ledger_entries").scalar()
    print(
        f"built {subscribers:,} subscribers and {count:,} ledger entries in "
        f"{time.perf_counter() - started:.0f} s; the database takes {size}"
    )


def sample_logins() -> list[str]:
    """The same subscribers at every size (bench/billing.py builds the n-th alike whatever
    the count), so the sizes compare like with like."""
    return [f"{billing_bench.PREFIX}{n}" for n in SAMPLE]


def sign_in_form(client, login: str) -> dict:
    """The sign-in form of `login`, with the CSRF token of the page `client` was given."""
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    return {"login": login, "password": PASSWORD, "csrf_token": token}


def signed_in(app, login: str):
    client = app.test_client()
    answer = client.post("/login", data=sign_in_form(client, login))
    assert answer.status_code in (302, 303), (login, answer.status_code)
    return client


def sign_in_ms(app, rounds: int) -> float:
    """The median sign-in through the form (the password's hash is most of it, the same
    at every size; the person is found by login among all of them)."""
    samples = []
    for n in range(rounds):
        client = app.test_client()
        data = sign_in_form(client, sample_logins()[n % len(SAMPLE)])
        started = time.perf_counter()
        answer = client.post("/login", data=data)
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code in (302, 303), answer.status_code
    return statistics.median(samples)


def median_ms(clients, url: str, rounds: int) -> float:
    samples = []
    for client in clients:
        client.get(url)  # warm
    for _ in range(rounds):
        for client in clients:
            started = time.perf_counter()
            answer = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (url, answer.status_code)
    return statistics.median(samples)


def plans(app, client, url: str, form: dict | None = None) -> list[str]:
    """The EXPLAIN of each query one request sends (a GET, or a POST of `form`); the big
    tables read without an index."""
    with app.app_context():
        engine = db.engine
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    if form is None:
        client.get(url)
    else:
        client.post(url, data=form)
    sa.event.remove(engine, "before_cursor_execute", record)
    unindexed = []
    print(f"\n== {'POST ' if form else ''}{url}: {len(seen)} SELECT statements ==")
    with engine.connect() as conn:
        for statement, parameters in seen:
            plan = "\n".join(
                row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters)
            )
            print("-- " + " ".join(statement.split())[:300])
            print(plan)
            for table in BIG_TABLES:
                if re.search(rf"Seq Scan on {table}\b", plan):
                    unindexed.append(f"{url}: {table} read without an index")
    return unindexed


def billing_days(app, subscribers: int, days: int) -> list[float]:
    """Seconds per 1,000 subscribers of each of `days` days in a row, as `portal billing
    run` does a day: the charges, then the low-balance warnings."""
    costs = []
    with app.app_context():
        for offset in range(days):
            day = billing_bench.DAY + timedelta(days=offset)
            started = time.perf_counter()
            result = billing_bench.run_once(day)
            charging = time.perf_counter() - started
            warned, _ = billing_bench.warn_once(day)
            seconds = time.perf_counter() - started
            print(
                f"billing {day}: {seconds:.1f} s ({result.charges:,} charges in "
                f"{charging:.1f} s, then {warned.candidates:,} low-balance "
                f"candidates in {seconds - charging:.1f} s)"
            )
            costs.append(seconds * 1000 / subscribers)
    return costs


def measure(
    server: str, subscribers: int, entries: int, rounds: int, days: int = 1
) -> dict[str, float]:
    print(f"\n### {subscribers:,} subscribers")
    with scratch_database(server, "portal_scale") as url:
        app = migrated_app(
            url, RATELIMIT_ENABLED=False, SESSION_COOKIE_SECURE=False, PORTAL_LOG_LEVEL="WARNING"
        )
        build(app, subscribers, entries)
        clients = [signed_in(app, login) for login in sample_logins()]
        unindexed = plans(app, clients[0], "/") + plans(app, clients[0], "/history/")
        anonymous = app.test_client()
        form = sign_in_form(anonymous, sample_logins()[0])
        unindexed += plans(app, anonymous, "/login", form)
        figures = {
            "sign-in POST, ms": sign_in_ms(app, rounds),
            "home page, ms": median_ms(clients, "/", rounds),
            "history first page, ms": median_ms(clients, "/history/", rounds),
        }
        # The day's work grows with the subscribers: what should stay is its cost for each.
        figures["billing day, s per 1,000"] = statistics.median(
            billing_days(app, subscribers, days)
        )
        for name, value in figures.items():
            print(f"{name:<26} {value:10.3f}")
        for line in unindexed:
            print("UNINDEXED " + line)
        with app.app_context():
            db.engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server")
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=50, help="ledger entries a subscriber")
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--days", type=int, default=3, help="billing days in a row")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("the scale benchmark runs on PostgreSQL")
    small = measure(args.database_url, args.baseline, args.entries, args.rounds, args.days)
    large = measure(args.database_url, args.subscribers, args.entries, args.rounds, args.days)
    print()
    worst = 0.0
    for name in small:
        ratio = large[name] / small[name]
        worst = max(worst, ratio)
        print(f"{name:<26} {args.subscribers:,} / {args.baseline:,}: {ratio:.2f}")
    print(f"worst ratio {worst:.2f} (goal: {GOAL_RATIO} or less)")


if __name__ == "__main__":
    main()
