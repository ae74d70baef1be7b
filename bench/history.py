"""Does serving the history cost the same for an account with a thousand ledger entries and
one with a million? On SQLite or PostgreSQL.

    .venv/bin/python bench/history.py [--small 1000] [--large 1000000] [--rounds 25]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Builds two accounts with set-based SQL (one INSERT ... SELECT each: a recursive CTE on
SQLite, generate_series on PostgreSQL), booked at the same pace, one entry every 8 hours
(a payment, then nine daily charges, so every month holds about as many entries in both:
only the length of the history differs). Then, signed in as each subscriber through the
real app, it times the first page (with the picture of 12 months), a deep page reached
by following the page's own "more" links as htmx does, the page of the oldest entries,
three months of payments (both filters) and a kind neither account has; prints the
EXPLAIN plan of every ledger query those pages send, and the median of each. Without
--database-url it runs on a temporary SQLite file; with a PostgreSQL URL it creates a
database of its own on that server and drops it afterwards. The last line is the worst
ratio of the large account's median to the small one's (the goal: under 1.5).
"""

import argparse
import logging
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tools/ is beside bench/

from portal.domain import subscribers
from portal.extensions import db
from tools.scratch_db import migrated_app, scratch_database

PASSWORD = "bench-password-2026"
PACE_HOURS = 8  # one entry every 8 hours: three a day, ~90 a month
CYCLE = 10  # a payment of 144 ₽, then nine daily charges of 16 ₽: the balance goes round
PAYMENT, CHARGE = 144_00, -16_00
DEPTH = 30  # "more" links followed to the deep page (30 pages of 30: entry ~900)
MORE = re.compile(r'<li class="more" hx-get="([^"]+)"')
HTMX = {"HX-Request": "true"}
CONTRACTS = {"small": "900001", "large": "900002"}


def make_app(database_url: str):
    return migrated_app(database_url, RATELIMIT_ENABLED=False, SESSION_COOKIE_SECURE=False)


# --- building the accounts, set-based ----------------------------------------------------

FILL = """
{series}
INSERT INTO ledger_entries
  (account_id, kind, amount, balance_after, idempotency_key, description, service_date,
   created_at)
SELECT :account,
  CASE WHEN i % 10 = 0 THEN 'payment' ELSE 'charge' END,
  CASE WHEN i % 10 = 0 THEN :payment ELSE :charge END,
  :payment + (i % 10) * :charge,
  'bench:' || :account || ':' || i,
  CASE WHEN i % 10 = 0 THEN 'Оплата' ELSE 'Абонентская плата' END,
  CASE WHEN i % 10 = 0 THEN NULL ELSE {day} END,
  {moment}
FROM {rows}
"""
# The i-th entry's moment, :pace hours apart from :start, in each database's own words
# (SQLite keeps moments as text the way SQLAlchemy writes them).
FILLS = {
    "sqlite": FILL.format(
        series="WITH RECURSIVE n(i) AS "
        "(SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :count)",
        rows="n",
        day="date(:start, '+' || (i * :pace) || ' hours')",
        moment="datetime(:start, '+' || (i * :pace) || ' hours') || '.000000'",
    ),
    "postgresql": FILL.format(
        series="",
        rows="generate_series(0, :count - 1) AS i",
        day="(CAST(:start AS timestamptz) + i * make_interval(hours => :pace))::date",
        moment="CAST(:start AS timestamptz) + i * make_interval(hours => :pace)",
    ),
}


def build_account(app, login: str, count: int, now: datetime) -> None:
    """A subscriber whose account has `count` entries, the newest an hour ago."""
    with app.app_context():
        session = db.new_session()
        new = subscribers.create_subscriber(
            session,
            contract_number=CONTRACTS[login],
            login=login,
            name="Абонент Для Замеров",
            phone="+79780000000",
            password=PASSWORD,
        )
        start = now - timedelta(hours=1 + (count - 1) * PACE_HOURS)
        postgres = session.bind.dialect.name == "postgresql"
        started = time.perf_counter()
        session.execute(
            sa.text(FILLS[session.bind.dialect.name]),
            {
                "account": new.account.id,
                "count": count,
                "payment": PAYMENT,
                "charge": CHARGE,
                "pace": PACE_HOURS,
                "start": start.isoformat() if postgres else start.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
        # The cached balance is the last entry's, as the ledger keeps it.
        last = (count - 1) % CYCLE
        new.account.balance = PAYMENT + last * CHARGE
        session.commit()
        if postgres:
            session.execute(sa.text("ANALYZE ledger_entries"))  # as autovacuum would
            session.commit()
        print(f"{login}: {count:,} entries in {time.perf_counter() - started:.1f} s")
        session.close()


# --- timing ------------------------------------------------------------------------------


def signed_in(app, login: str):
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    answer = client.post("/login", data={"login": login, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code in (302, 303), answer.status_code
    return client


def deep_url(client) -> str:
    """The URL of the page DEPTH "more" links down, followed as htmx follows them."""
    html = client.get("/history/").get_data(as_text=True)
    url = None
    for _ in range(DEPTH):
        url = MORE.search(html).group(1).replace("&amp;", "&")
        html = client.get(url, headers=HTMX).get_data(as_text=True)
    return url


def timed_get(client, url: str, headers=None) -> float:
    started = time.perf_counter()
    answer = client.get(url, headers=headers or {})
    elapsed = (time.perf_counter() - started) * 1000
    assert answer.status_code == 200, (url, answer.status_code)
    return elapsed


# --- plans -------------------------------------------------------------------------------


class Statements:
    """The ledger queries the app sends while it is on (SQL and parameters)."""

    def __init__(self, engine):
        self.engine, self.seen, self.on = engine, [], False
        sa.event.listen(engine, "before_cursor_execute", self.record)

    def record(self, conn, cursor, statement, parameters, context, executemany):
        if self.on and "ledger_entries" in statement:
            self.seen.append((statement, parameters))


def explain(engine, statement: str, parameters) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            return "\n".join(row[0] for row in rows)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(f"{'  ' * (parent > 0)}{detail}" for _id, parent, _, detail in rows)


def print_plans(app, client, url: str, title: str) -> None:
    """Each ledger query one request sends, and its plan."""
    with app.app_context():
        engine = db.engine
    watch = Statements(engine)
    watch.on = True
    client.get(url, headers=HTMX if "before=" in url else {})
    watch.on = False
    sa.event.remove(engine, "before_cursor_execute", watch.record)
    print(f"\n== {title}: {len(watch.seen)} ledger queries ==")
    for statement, parameters in watch.seen:
        print("-- " + " ".join(statement.split())[:400])
        print(explain(engine, statement, parameters))


def oldest_url(app, login: str) -> str:
    """The page a hundred entries from the account's oldest (a "more" link's cursor)."""
    with app.app_context():
        oldest = db.session.scalar(
            sa.text(
                "SELECT min(ledger_entries.id) FROM ledger_entries JOIN accounts"
                " ON accounts.id = ledger_entries.account_id WHERE accounts.contract_number = :c"
            ),
            {"c": CONTRACTS[login]},
        )
        db.session.remove()
    return f"/history/?before={oldest + 100}"


def cases(app, clients) -> dict[tuple[str, str], str]:
    """(account, page) -> URL. The ratio compares the pages both accounts have; a year
    long past, and a range holding many more of the large account's entries than the
    small one has, only for the large account (shown, not in the ratio)."""
    urls = {}
    for name, client in clients.items():
        urls[name, "first page"] = "/history/"
        urls[name, "deep page"] = deep_url(client)
        urls[name, "oldest page"] = oldest_url(app, name)
        urls[name, "3 months, payments"] = "/history/?period=3m&kind=payment"
        # A kind neither account ever had: the page must not walk the account to find none.
        urls[name, "refunds (none)"] = "/history/?kind=refund"
    urls["large", "the year 2000"] = "/history/?since=2000-01-01&until=2000-12-31"
    # Everything since 2000: the whole small account, the newest 28,000 of the large one.
    urls["large", "since 2000"] = "/history/?since=2000-01-01"
    return urls


def bench(app, small: int, large: int, rounds: int) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)
    build_account(app, "small", small, now)
    build_account(app, "large", large, now)
    clients = {name: signed_in(app, name) for name in ("small", "large")}
    urls = cases(app, clients)
    for (name, page), url in urls.items():
        print_plans(app, clients[name], url, f"{name}: {page} ({url})")
    samples = {key: [] for key in urls}

    def get(key) -> float:
        url = urls[key]
        return timed_get(clients[key[0]], url, HTMX if "before=" in url else None)

    for key in samples:  # warm up
        get(key)
    for _ in range(rounds):  # interleaved: drift in machine load hits every case alike
        for key in samples:
            samples[key].append(get(key))
    print()
    medians = {key: statistics.median(values) for key, values in samples.items()}
    for (name, page), median in medians.items():
        print(f"{name:<6} {page:<19} median {median:7.1f} ms  ({rounds} rounds)")
    return {
        page: medians["large", page] / medians["small", page]
        for name, page in medians
        if name == "small"
    }


def measure(database_url: str | None, *, small: int, large: int, rounds: int) -> dict:
    """The ratios, in a scratch database (a temporary SQLite file without a URL)."""
    with scratch_database(database_url, "portal_history_bench") as url:
        app = make_app(url)
        print(f"database: {sa.engine.make_url(url).get_backend_name()}")
        ratios = bench(app, small, large, rounds)
        with app.app_context():
            db.engine.dispose()
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    logging.getLogger("portal.access").setLevel(logging.WARNING)  # figures, not requests
    ratios = measure(args.database_url, small=args.small, large=args.large, rounds=args.rounds)
    worst = max(ratios, key=ratios.get)
    print(
        "ratio large/small: "
        + ", ".join(f"{page} {ratio:.2f}" for page, ratio in ratios.items())
        + f"; worst {ratios[worst]:.2f} ({worst})"
    )


if __name__ == "__main__":
    main()
