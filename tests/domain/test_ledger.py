"""The ledger: the only way money moves, append-only, idempotent by key."""

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from portal.domain import ledger
from portal.domain.errors import InvalidInput, NotFound
from portal.extensions import db
from portal.models import Account, EntryKind, LedgerEntry
from tests.factories import create_subscriber


def test_post_moves_balance_and_records_balance_after(session):
    account = create_subscriber(session).account
    ledger.post(session, account.id, EntryKind.PAYMENT, 500_00, key="p1")
    posted = ledger.post(session, account.id, EntryKind.CHARGE, -120_50, key="c1")
    session.refresh(account)
    assert account.balance == 379_50
    assert posted.entry.balance_after == 379_50
    assert ledger.balance_from_entries(session, account.id) == account.balance


def test_same_key_moves_money_once(session):
    account = create_subscriber(session).account
    first = ledger.post(session, account.id, EntryKind.PAYMENT, 100_00, key="dup")
    second = ledger.post(session, account.id, EntryKind.PAYMENT, 100_00, key="dup")
    session.refresh(account)
    assert first.created and not second.created
    assert second.entry.id == first.entry.id
    assert account.balance == 100_00


def test_unique_key_is_enforced_by_the_database(session):
    account = create_subscriber(session).account
    ledger.post(session, account.id, EntryKind.PAYMENT, 100_00, key="k")
    entry = LedgerEntry(
        account_id=account.id,
        kind=EntryKind.PAYMENT,
        amount=1,
        balance_after=1,
        idempotency_key="k",
        created_at=account.created_at,
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(entry)
        session.flush()


@pytest.mark.parametrize(
    ("kind", "amount"),
    [
        (EntryKind.PAYMENT, -1),
        (EntryKind.CHARGE, 1),
        (EntryKind.REFUND, 5),
        (EntryKind.CREDIT, -5),
        (EntryKind.CORRECTION, 0),
        (EntryKind.PAYMENT, 1.5),
        (EntryKind.PAYMENT, True),
    ],
)
def test_wrong_sign_or_type_is_refused(session, kind, amount):
    account = create_subscriber(session).account
    with pytest.raises(InvalidInput):
        ledger.post(session, account.id, kind, amount, key="bad")
    assert ledger.balance_from_entries(session, account.id) == 0


def test_unknown_account_is_not_found(session):
    with pytest.raises(NotFound):
        ledger.post(session, 999_999, EntryKind.PAYMENT, 1, key="x")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount = 1",
        "DELETE FROM ledger_entries",
    ],
)
def test_entries_cannot_be_changed_or_deleted(session, statement):
    account = create_subscriber(session).account
    ledger.post(session, account.id, EntryKind.PAYMENT, 100_00, key="keep")
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(sa.text(statement))
    assert ledger.balance_from_entries(session, account.id) == 100_00


def test_balance_equals_sum_of_entries_after_mixed_postings(session):
    accounts = [create_subscriber(session).account for _ in range(3)]
    amounts = [
        (EntryKind.PAYMENT, 1000_00),
        (EntryKind.CHARGE, -33_33),
        (EntryKind.CREDIT, 1),
        (EntryKind.REFUND, -200_00),
        (EntryKind.CORRECTION, -7),
        (EntryKind.CHARGE, -999),
    ]
    for i, account in enumerate(accounts):
        for j, (kind, amount) in enumerate(amounts[i:] + amounts[:i]):
            ledger.post(session, account.id, kind, amount, key=f"mix:{i}:{j}")
    for account in accounts:
        session.refresh(account)
        assert account.balance == ledger.balance_from_entries(session, account.id)


@pytest.mark.parametrize("migrated_app", ["postgres"], indirect=True)
def test_concurrent_writers_keep_the_invariant(migrated_app):
    """Many threads post to one account at once, some with the same keys: every distinct
    key moves money exactly once and the cached balance equals the sum of entries.
    (PostgreSQL only: SQLite has one writer at a time.)"""
    with migrated_app.app_context():
        engine = db.engine
        with Session(engine) as setup:
            account_id = create_subscriber(setup).account.id
            setup.commit()
        threads, errors = [], []
        barrier = threading.Barrier(16)

        def writer(n: int) -> None:
            try:
                barrier.wait()
                for i in range(25):
                    with Session(engine) as s, s.begin():
                        # Threads share keys pairwise: n and n^1 post the same 25 keys.
                        ledger.post(
                            s,
                            account_id,
                            EntryKind.PAYMENT,
                            100 + i,
                            key=f"conc:{account_id}:{n // 2}:{i}",
                        )
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        for n in range(16):
            threads.append(threading.Thread(target=writer, args=(n,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with Session(engine) as check:
            balance = check.get(Account, account_id).balance
            entries = check.scalar(
                sa.select(sa.func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.account_id == account_id)
            )
            assert entries == 8 * 25
            assert balance == 8 * sum(100 + i for i in range(25))
            assert balance == ledger.balance_from_entries(check, account_id)
