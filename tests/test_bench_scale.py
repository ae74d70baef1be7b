"""bench/scale.py on a few hundred subscribers (PostgreSQL: it runs nowhere else), so the
benchmark keeps working as the code changes; its figures are printed, never judged here."""

import re

import sqlalchemy as sa

from bench import scale
from portal.domain.billing import charges
from portal.extensions import db
from tests.conftest import required_server
from tools.scratch_db import migrated_app, scratch_database


def postgres_server() -> str:
    return required_server("TEST_DATABASE_URL")


def test_the_scale_benchmark_measures_what_it_says(capsys):
    figures = scale.measure(postgres_server(), subscribers=300, entries=5, rounds=1, days=2)
    assert set(figures) == {
        "sign-in POST, ms",
        "home page, ms",
        "history first page, ms",
        "billing day, s per 1,000",
    }
    assert all(value > 0 for value in figures.values())
    printed = capsys.readouterr().out
    assert "built 300 subscribers and 1,800 ledger entries" in printed
    assert "== /history/:" in printed and "Index Scan" in printed
    assert "== POST /login:" in printed
    assert "UNINDEXED" not in printed
    days = re.findall(r"billing (\S+): \S+ s \(([\d,]+) charges", printed)
    assert [day for day, _ in days] == ["2026-12-10", "2026-12-11"]
    assert all(int(charges.replace(",", "")) > 0 for _, charges in days)


def test_the_built_charges_carry_the_keys_the_billing_run_gives():
    with scratch_database(postgres_server(), "portal_scale_keys") as url:
        app = migrated_app(url, PORTAL_LOG_LEVEL="WARNING")
        scale.build(app, 20, 12)
        with app.app_context():
            rows = db.session.execute(
                sa.text(
                    "SELECT e.idempotency_key, e.service_date, "
                    "(SELECT min(id) FROM subscriptions s WHERE s.account_id = e.account_id) "
                    "FROM ledger_entries e WHERE e.kind = 'charge' AND e.service_date IS NOT NULL"
                )
            ).all()
            db.session.remove()
            db.engine.dispose()
    assert len(rows) == 20 * 11  # every tenth entry is a payment
    for key, day, subscription_id in rows:
        assert key == charges.charge_key(subscription_id, day)
