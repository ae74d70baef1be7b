"""SQLite, the embedded default, with two writers: a transaction that has read must not
fail with "database is locked" when another connection committed meanwhile."""

import threading

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.db import make_engine
from portal.domain import ledger
from portal.models import Account, EntryKind
from tests.factories import create_subscriber


def migrated_engine(tmp_path):
    from flask_migrate import upgrade

    from portal.extensions import db
    from tests.conftest import make_test_app

    app = make_test_app(f"sqlite:///{tmp_path / 'two.db'}", tmp_path)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()
    return make_engine(f"sqlite:///{tmp_path / 'two.db'}")


def test_read_then_write_after_another_commit(tmp_path):
    engine = migrated_engine(tmp_path)
    with Session(engine) as setup:
        account_id = create_subscriber(setup).account.id
        setup.commit()
    with Session(engine) as first, Session(engine) as second:
        first.get(Account, account_id)  # a read, as a page does before it writes
        ledger.post(second, account_id, EntryKind.PAYMENT, 100_00, key="second")
        second.commit()
        ledger.post(first, account_id, EntryKind.PAYMENT, 50_00, key="first")
        first.commit()
    with Session(engine) as check:
        assert check.get(Account, account_id).balance == 150_00
        assert ledger.balance_from_entries(check, account_id) == 150_00


def test_concurrent_writers_wait_for_each_other(tmp_path):
    engine = migrated_engine(tmp_path)
    with Session(engine) as setup:
        account_id = create_subscriber(setup).account.id
        setup.commit()
    errors = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                with Session(engine) as s, s.begin():
                    s.scalar(sa.select(Account.balance).where(Account.id == account_id))
                    ledger.post(s, account_id, EntryKind.PAYMENT, 1, key=f"w{n}:{i}")
        except Exception as exc:  # pragma: no cover - reported by the assert
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(engine) as check:
        assert check.get(Account, account_id).balance == 80
        assert ledger.balance_from_entries(check, account_id) == 80
