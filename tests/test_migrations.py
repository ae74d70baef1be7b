"""Migrations: they build exactly the schema the models describe, and go down and up."""

import json
import os
import re
import uuid
import warnings

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from portal.extensions import db
from portal.models import Person, StaffMember
from tests.factories import create_staff, create_subscriber


def differences(connection, **opts) -> list:
    """What alembic finds between the database and the models. SQLAlchemy cannot read an
    index on an expression back from SQLite (the logins' lower(login)): it says so and
    leaves it out, and so does the comparison; test_logins_are_unique_in_any_case holds
    those indexes on both backends."""
    context = MigrationContext.configure(connection, opts=opts)
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Skipped unsupported reflection of expression-based index", sa.exc.SAWarning
        )
        warnings.filterwarnings(
            "ignore", "autogenerate skipping metadata-specified expression-based index", UserWarning
        )
        return compare_metadata(context, db.metadata)


def test_migrated_schema_matches_the_models(migrated_app):
    with migrated_app.app_context(), db.engine.connect() as connection:
        assert differences(connection, compare_type=True) == []


@pytest.fixture
def scratch_app(database_urls, tmp_path, request):
    """An app on an empty database of its own (SQLite file)."""
    from tests.conftest import make_test_app

    return make_test_app(f"sqlite:///{tmp_path / 'scratch.db'}", tmp_path)


def test_down_and_up_again(scratch_app):
    with scratch_app.app_context():
        directory = scratch_app.extensions["migrate"].directory
        upgrade(directory=directory)
        downgrade(directory=directory, revision="base")
        upgrade(directory=directory)
        with db.engine.connect() as connection:
            assert differences(connection) == []


def test_what_was_not_public_is_archived_and_back(scratch_app):
    """0010 turns is_public into archived_at (and its downgrade turns it back)."""
    insert = (
        "INSERT INTO tariffs (code, kind, name, description, monthly_price, is_public) "
        "VALUES ('old', 'internet', 'Old', '', 100, false), ('new', 'tv', 'New', '', 200, true)"
    )
    with scratch_app.app_context():
        directory = scratch_app.extensions["migrate"].directory
        upgrade(directory=directory, revision="0008")
        with db.engine.begin() as connection:
            connection.execute(sa.text(insert))
        upgrade(directory=directory, revision="0010")
        with db.engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT code, archived_at FROM tariffs ORDER BY code")
            )
            archived = {code: moment is not None for code, moment in rows}
        assert archived == {"new": False, "old": True}
        downgrade(directory=directory, revision="0008")
        with db.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT code, is_public FROM tariffs ORDER BY code"))
            assert {code: bool(public) for code, public in rows} == {"new": True, "old": False}


def test_payments_credited_before_receipts_get_numbers_in_the_order_paid(scratch_app):
    """0012 numbers the receipts of payments already credited, oldest money first; a
    payment never credited gets none."""
    with scratch_app.app_context():
        directory = scratch_app.extensions["migrate"].directory
        upgrade(directory=directory, revision="0008")
        now = "2026-11-01 09:00:00.000000"
        with db.engine.begin() as conn:
            run = conn.exec_driver_sql
            run(
                "INSERT INTO people (id, login, password_hash, name, phone, created_at,"
                " password_changed_at, must_change_password) VALUES"
                f" (1, 'old', 'x', 'Old', '+79780000000', '{now}', '{now}', 0)"
            )
            run(
                "INSERT INTO accounts (id, person_id, contract_number, personal_account,"
                f" address, status, balance, created_at) VALUES (1, 1, '1', '1', '', 'active', 0,"
                f" '{now}')"
            )
            for pid, status in [(7, "succeeded"), (8, "canceled"), (9, "succeeded")]:
                run(
                    "INSERT INTO payments (id, account_id, amount, currency, method, provider,"
                    " status, creation_key, fiscal_receipt, created_at, updated_at) VALUES"
                    f" ({pid}, 1, 100, 'RUB', 'card', 'sandbox', '{status}', 'k{pid}', '{{}}',"
                    f" '{now}', '{now}')"
                )
            # Payment 9's money arrived before payment 7's.
            for eid, pid in [(20, 9), (21, 7)]:
                run(
                    "INSERT INTO ledger_entries (id, account_id, kind, amount, balance_after,"
                    " idempotency_key, description, created_at) VALUES"
                    f" ({eid}, 1, 'payment', 100, 100, 'payment:{pid}', '', '{now}')"
                )
        upgrade(directory=directory)
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT id, payment_id, ledger_entry_id FROM receipts ORDER BY id")
            ).all()
        assert [(r.payment_id, r.ledger_entry_id) for r in rows] == [(9, 20), (7, 21)]
        assert rows[0].id < rows[1].id


def test_logins_alike_stop_the_upgrade_with_their_names(scratch_app, caplog):
    """0024 cannot make the index while two logins differ only in case: it names them
    (an older install may hold such a pair) and changes nothing."""
    now = "2026-11-01 09:00:00.000000"
    with scratch_app.app_context():
        directory = scratch_app.extensions["migrate"].directory
        upgrade(directory=directory, revision="0023")
        with db.engine.begin() as conn:
            for n, login in enumerate(["Anna", "boris", "anna"], start=1):
                conn.exec_driver_sql(
                    "INSERT INTO people (id, login, password_hash, name, phone, created_at,"
                    " password_changed_at, must_change_password) VALUES"
                    f" ({n}, '{login}', 'x', 'P', '+79780000000', '{now}', '{now}', 0)"
                )
        with pytest.raises(SystemExit):  # Flask-Migrate logs the error, then exits
            upgrade(directory=directory)
        assert re.search(r"people: .*: Anna, anna\. Rename one of each", caplog.text)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE people SET login = 'anna2' WHERE id = 3")
        upgrade(directory=directory, revision="0024")
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
                "0024"
            )


@pytest.mark.parametrize(
    ("create", "table"),
    [(create_subscriber, Person), (create_staff, StaffMember)],
    ids=["people", "staff"],
)
def test_logins_are_unique_in_any_case(session, create, table):
    """Sign-in finds a login in any case, so the database refuses a second spelling of
    one, whoever writes it (the forms check first; two at once would both pass that)."""
    create(session, login="Ivan.Petrov")
    other = create(session, login="petr")
    other_id = other.id if isinstance(other, StaffMember) else other.person.id
    renaming = sa.update(table).where(table.id == other_id).values(login="IVAN.petrov")
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        session.execute(renaming)
    session.execute(renaming.values(login="ivan.petrov2"))  # another login is fine


@pytest.fixture(params=["sqlite", "postgres"])
def scratch_app_on(request, database_urls, tmp_path):
    """An app on an empty database of its own, on each backend (PostgreSQL: a database
    made for the test and dropped after it)."""
    from tests.conftest import make_test_app

    if request.param == "sqlite":
        yield make_test_app(f"sqlite:///{tmp_path / 'scratch.db'}", tmp_path)
        return
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        if os.environ.get("CI"):
            pytest.fail("TEST_DATABASE_URL is not set: CI must run the PostgreSQL tests")
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    name = f"portal_scratch_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(server).set(drivername="postgresql+psycopg", database=name)
    app = make_test_app(url.render_as_string(hide_password=False), tmp_path)
    yield app
    with app.app_context():
        db.engine.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def two_subscribers(run, now: str) -> None:
    """People 1 and 2, each with account 1 or 2, written in SQL as an older schema has them."""
    for n in (1, 2):
        run(
            "INSERT INTO people (id, login, password_hash, name, phone, created_at,"
            " password_changed_at, must_change_password) VALUES"
            f" ({n}, 'p{n}', 'x', 'P', '+79780000000', '{now}', '{now}', false)"
        )
        run(
            "INSERT INTO accounts (id, person_id, contract_number, personal_account,"
            f" address, status, balance, created_at) VALUES ({n}, {n}, '{n}', '{n}', '',"
            f" 'active', 0, '{now}')"
        )


def test_refunds_in_the_ledger_are_tied_to_their_payments_where_that_is_sure(scratch_app_on):
    """0025 ties the refunds already debited to their payments where the audit events and
    the entry's words name one payment of the same account; the rest stay untied, and no
    ledger entry changes."""
    now = "2026-11-01 09:00:00+00"
    app = scratch_app_on
    with app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="0024")
        with db.engine.begin() as conn:
            run = conn.exec_driver_sql
            two_subscribers(run, now)
            for pid, account in [(7, 1), (8, 1), (9, 2)]:
                run(
                    "INSERT INTO payments (id, account_id, amount, currency, method, provider,"
                    " status, creation_key, fiscal_receipt, created_at, updated_at) VALUES"
                    f" ({pid}, {account}, 100000, 'RUB', 'card', 'sandbox', 'succeeded',"
                    f" 'k{pid}', '{{}}', '{now}', '{now}')"
                )
            events = [
                ("payment.refunded", {"payment_id": 7, "provider": "sandbox", "refund_id": "r1"}),
                (
                    "payment.refund_resolved",
                    {"payment_id": 8, "provider": "yookassa", "refund_id": "r2"},
                ),
                ("payment.refunded", {"payment_id": 8, "provider": "sandbox", "refund_id": "r4"}),
            ]
            for n, (event, data) in enumerate(events, start=1):
                run(
                    "INSERT INTO audit_events (id, at, event, account_id, actor, data) VALUES"
                    f" ({n}, '{now}', '{event}', 1, 'test', '{json.dumps(data)}')"
                )
            entries = [
                (30, 1, "refund:sandbox:r1", "Возврат оплаты №7"),  # both name 7
                (31, 1, "refund:yookassa:r2", ""),  # the staff's resolution names 8
                (32, 1, "refund:sandbox:r3", "Возврат оплаты №9"),  # 9 is another's
                (33, 1, "refund:sandbox:r4", "Возврат оплаты №7"),  # 7 or 8: not sure
                (34, 1, "refund:sandbox:r5", "Возврат"),  # names none
            ]
            for eid, account, key, words in entries:
                run(
                    "INSERT INTO ledger_entries (id, account_id, kind, amount, balance_after,"
                    " idempotency_key, description, created_at) VALUES"
                    f" ({eid}, {account}, 'refund', -100, -100, '{key}', '{words}', '{now}')"
                )
            before = conn.exec_driver_sql("SELECT * FROM ledger_entries ORDER BY id").all()
        upgrade(directory=directory)
        with db.engine.connect() as conn:
            tied = conn.exec_driver_sql("SELECT payment_id, ledger_entry_id FROM refunds").all()
            after = conn.exec_driver_sql("SELECT * FROM ledger_entries ORDER BY id").all()
        assert sorted(tied) == [(7, 30), (8, 31)]
        assert after == before
        downgrade(directory=directory, revision="0024")


def test_windows_unlike_their_template_are_marked_set_apart(scratch_app_on):
    """0026 cannot know which windows the dispatcher set: one like its weekday's template
    follows the template from then on, any other keeps what it holds."""
    app = scratch_app_on
    with app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="0025")
        with db.engine.begin() as conn:
            run = conn.exec_driver_sql
            # Wednesday (weekday 2) 09:00-12:00 with 3 places is the template.
            run(
                "INSERT INTO visit_window_templates (district, weekday, starts, ends, capacity)"
                " VALUES ('Центр', 2, '09:00:00', '12:00:00', 3)"
            )
            windows = [
                (1, "2026-11-25", "09:00:00", "12:00:00", 3),  # like the template
                (2, "2026-12-02", "09:00:00", "12:00:00", 0),  # a holiday
                (3, "2026-12-09", "09:00:00", "13:00:00", 3),  # longer
                (4, "2026-12-09", "15:00:00", "17:00:00", 3),  # an extra window
                (5, "2026-12-10", "09:00:00", "12:00:00", 3),  # a Thursday
            ]
            for wid, day, starts, ends, capacity in windows:
                run(
                    "INSERT INTO visit_windows (id, district, day, starts, ends, capacity,"
                    f" booked) VALUES ({wid}, 'Центр', '{day}', '{starts}', '{ends}',"
                    f" {capacity}, 0)"
                )
        upgrade(directory=directory)
        with db.engine.connect() as conn:
            apart = conn.exec_driver_sql(
                "SELECT id FROM visit_windows WHERE set_apart ORDER BY id"
            ).scalars()
            assert list(apart) == [2, 3, 4, 5]
        downgrade(directory=directory, revision="0025")


def test_a_promotion_taken_twice_by_an_account_stays_with_its_first_subscription(scratch_app_on):
    """0029: the account that took a promotion twice keeps both add-ons and their prices;
    the later one no longer names the promotion, and the unique key holds from then on."""
    now = "2026-11-01 09:00:00+00"
    app = scratch_app_on
    with app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="0028")
        with db.engine.begin() as conn:
            run = conn.exec_driver_sql
            two_subscribers(run, now)
            run(
                "INSERT INTO staff_members (id, login, name, role, password_hash, active,"
                f" created_at, password_changed_at) VALUES (1, 'm', 'M', 'marketing', 'x', true,"
                f" '{now}', '{now}')"
            )
            run(
                "INSERT INTO services (id, code, name, description, monthly_price)"
                " VALUES (1, 'tv', 'TV', '', 30000)"
            )
            run(
                "INSERT INTO promotions (id, title, text, starts_on, ends_on, tariff_ids,"
                " districts, state, created_at, created_by, updated_at, action_service_id,"
                " promo_price, promo_months) VALUES (1, 'T', 'T', '2026-11-01', '2026-12-31',"
                f" '[]', '[]', 'published', '{now}', 1, '{now}', 1, 0, 1)"
            )
            for sid, account, started, ended in [
                (1, 1, "2026-11-02", "2026-11-05"),
                (2, 1, "2026-11-06", None),
                (3, 2, "2026-11-03", None),
            ]:
                run(
                    "INSERT INTO subscriptions (id, account_id, service_id, started_on,"
                    " ended_on, price_override, price_override_until, promotion_id) VALUES"
                    f" ({sid}, {account}, 1, '{started}', {repr(ended) if ended else 'NULL'},"
                    " 0, '2026-12-01', 1)"
                )
        upgrade(directory=directory)
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, promotion_id, price_override FROM subscriptions ORDER BY id"
            ).all()
        assert rows == [(1, 1, 0), (2, None, 0), (3, 1, 0)]
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO subscriptions (account_id, service_id, started_on, promotion_id)"
                " VALUES (2, 1, '2026-11-10', 1)"
            )
        downgrade(directory=directory, revision="0028")
