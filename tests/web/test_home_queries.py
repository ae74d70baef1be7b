"""What the home page asks of the database (issue 14): a few statements, however many
accounts, tariffs and add-ons the subscriber has, and no write on a plain visit. Its
speed is measured in bench/throughput.py, never here."""

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.domain import subscribers
from tests.factories import PASSWORD, create_service, create_subscriber, create_tariff

HOME_STATEMENTS_AT_MOST = 9  # the goal: fewer than 10


@contextmanager
def heard(app, event: str, note):
    """`note` called on each `event` of the test's connection (which the app's requests
    use) while the block runs."""
    connection = app.config["TEST_CONNECTION"]
    sa.event.listen(connection, event, note)
    try:
        yield
    finally:
        sa.event.remove(connection, event, note)


@contextmanager
def statements(app):
    """The SQL the app sends meanwhile, but the savepoints the test's transaction makes
    of its sessions' transactions (a request in production has none)."""
    sent: list[str] = []

    def note(conn, cursor, statement, *args):
        if "SAVEPOINT" not in statement.upper():
            sent.append(statement)

    with heard(app, "before_cursor_execute", note):
        yield sent


@contextmanager
def savepoints_released(app):
    """How many times the app commits meanwhile (inside the test's transaction a commit
    releases a savepoint)."""
    released: list[str] = []
    with heard(app, "release_savepoint", lambda conn, name, context: released.append(name)):
        yield released


def subscriber_with(session, login: str, *, tariffs: int, addons: int, accounts: int):
    internet = [create_tariff(session, price=300_00 + n) for n in range(tariffs)]
    extras = [create_service(session, price=30_00 + n) for n in range(addons)]
    new = create_subscriber(
        session,
        login=login,
        balance=900_00,
        tariffs=internet,
        services=extras,
        start=date(2026, 11, 1),
    )
    for n in range(accounts - 1):
        subscribers.add_account(
            session,
            new.person,
            contract_number=f"88{n:04d}",
            address="Ялта, ул. Садовая, 1",
            tariff_codes=[t.code for t in internet],
            service_codes=[s.code for s in extras],
            start=date(2026, 11, 1),
        )
    session.commit()
    return new


@pytest.fixture
def at_noon(frozen_clock):
    frozen_clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    return frozen_clock


def home_statements(app, client) -> list[str]:
    assert client.get("/").status_code == 200  # the first visit may move the expiry
    with statements(app) as sent:
        assert client.get("/").status_code == 200
    return sent


def test_the_home_page_sends_a_few_statements_whatever_the_subscriber_has(
    app, session, auth, client, at_noon
):
    subscriber_with(session, "few-things", tariffs=1, addons=0, accounts=1)
    auth.login("few-things", PASSWORD)
    few = home_statements(app, client)
    auth.logout()

    subscriber_with(session, "many-things", tariffs=3, addons=4, accounts=3)
    auth.login("many-things", PASSWORD)
    many = home_statements(app, client)

    assert len(many) <= HOME_STATEMENTS_AT_MOST, "\n".join(many)
    # Read at once, not one statement per account, subscription, tariff or add-on.
    assert len(many) == len(few), "\n".join(many)


def test_a_plain_visit_writes_nothing_and_the_expiry_still_slides(
    app, session, auth, client, at_noon
):
    subscriber_with(session, "visitor", tariffs=1, addons=1, accounts=1)
    auth.login("visitor", PASSWORD)
    assert client.get("/").status_code == 200
    with savepoints_released(app) as commits, statements(app) as sent:
        assert client.get("/").status_code == 200
    assert commits == [] and not [s for s in sent if not s.lstrip().upper().startswith("SELECT")]

    at_noon.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))  # an hour on: the expiry moves
    with savepoints_released(app) as commits:
        assert client.get("/").status_code == 200
    assert len(commits) == 1
    from portal.models import LoginSession, Person

    record = session.scalar(
        sa.select(LoginSession)
        .join(Person)
        .where(Person.login == "visitor", LoginSession.ended_at.is_(None))
        .execution_options(populate_existing=True)
    )
    assert record.last_seen_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert record.expires_at > datetime(2026, 12, 1, 10, 0, tzinfo=UTC) + timedelta(minutes=1)
