"""How long importing 50,000 subscribers takes: the dry run and the real run (through
`imports.run_job`, the function the background job calls), on SQLite or PostgreSQL.

    .venv/bin/python bench/import.py [--rows 50000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Without --database-url it runs on a temporary SQLite file; with a PostgreSQL URL it
creates a database of its own on that server and drops it afterwards. Prints seconds and
rows per second for each step; the last line gives each step's time as a ratio to the
60-second goal (under 1.00 is within it).
"""

import argparse
import io
import time

import sqlalchemy as sa

from bench import databases
from portal.domain import imports, staff
from portal.extensions import db
from portal.models import Service, StaffRole, Tariff, TariffKind

GOAL_SECONDS = 60


def build_csv(rows: int, districts: tuple[str, ...]) -> bytes:
    """A billing export: every row a new subscriber with a tariff or two and an add-on."""
    out = io.StringIO()
    out.write("Договор;ФИО;Телефон;Адрес;Район;Тарифы;Услуги\r\n")
    for n in range(rows):
        tariffs = "bench-net" if n % 3 else "bench-net|bench-tv"
        addons = "bench-ip" if n % 5 == 0 else ""
        out.write(
            f"B{n:07d};Абонент Номер {n};+7 978 {n // 10000:03d}-{n // 100 % 100:02d}-"
            f"{n % 100:02d};Ялта, ул. Тестовая, д. {n % 300}, кв. {n % 97};"
            f"{districts[n % len(districts)]};{tariffs};{addons}\r\n"
        )
    return out.getvalue().encode("utf-8")


def seed() -> None:
    """The catalogue the CSV names, and the operator who imports it."""
    session = db.new_session()
    session.add_all(
        [
            Tariff(code="bench-net", kind=TariffKind.INTERNET, name="Net", monthly_price=1),
            Tariff(code="bench-tv", kind=TariffKind.TV, name="TV", monthly_price=1),
            Service(code="bench-ip", name="IP", monthly_price=1),
        ]
    )
    staff.create_staff(
        session,
        login="bench",
        name="Bench",
        role=StaffRole.OPERATOR,
        password="bench-password-2026",
        actor="bench",
    )
    session.commit()
    session.close()


def timed(label: str, rows: int, work) -> float:
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"{label:<26} {seconds:7.2f} s {rows / seconds:10.0f} rows/s")
    return seconds, result


def bench(app, rows: int) -> dict:
    config = app.config
    data = build_csv(rows, config["PORTAL_DISTRICTS"])
    print(f"{rows} rows, {len(data) / 1e6:.1f} MB, {db.engine.dialect.name}")
    session = db.new_session()
    member_id = session.scalar(sa.text("SELECT id FROM staff_members WHERE login = 'bench'"))
    results = {}
    for attempt in ("first", "again"):

        def dry_run():
            parsed = imports.read(data, max_bytes=config["PORTAL_IMPORT_MAX_BYTES"])
            batch = imports.check(
                session,
                parsed,
                staff_id=member_id,
                file_name="bench.csv",
                districts=config["PORTAL_DISTRICTS"],
            )
            session.commit()
            return batch.id

        seconds, import_id = timed(f"dry run ({attempt})", rows, dry_run)
        results[f"dry run ({attempt})"] = seconds
        imports.start(session, import_id, actor="bench")
        session.commit()

        def real_run(import_id=import_id):
            job_session = db.new_session()
            try:
                imports.run_job(job_session, config, import_id)
            finally:
                job_session.close()

        seconds, _ = timed(f"real run ({attempt})", rows, real_run)
        results[f"real run ({attempt})"] = seconds
        done = imports.of_member(session, import_id)
        session.refresh(done)
        print(
            f"  created {done.created}, updated {done.updated}, unchanged {done.unchanged}, "
            f"refused {done.refused}"
        )
    session.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with databases.portal_on_own_database(args.database_url, "portal_import_bench") as app:
        seed()
        results = bench(app, args.rows)
    print(
        "ratio to the 60 s goal: "
        + ", ".join(f"{name} {seconds / GOAL_SECONDS:.2f}" for name, seconds in results.items())
    )


if __name__ == "__main__":
    main()
