"""The database: an engine per app, a request-scoped session, a typed declarative base.

Plain SQLAlchemy 2 rather than a wrapper, so tests can bind an app's sessions to a
connection whose transaction is rolled back after each test, on SQLite and PostgreSQL
alike. Each app keeps its own engine, so two apps in one process (tests, tools) never
share one by accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


def _lower(text):
    return text.lower() if isinstance(text, str) else text


def make_engine(url: str) -> sa.Engine:
    """An engine with the settings each backend needs."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # SQLite's own lower() knows only ASCII; searches by a Russian name need it all.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _sqlite_begin_when_writing(conn, cursor, statement, parameters, context, executemany):
        # SQLite's WAL gives a transaction that has read a snapshot; if it then writes
        # after another connection committed, SQLite fails at once ("database is
        # locked") instead of waiting. So reads run on their own, each seeing the latest
        # commit (as PostgreSQL's read committed does), and the transaction begins as
        # IMMEDIATE (taking the write lock, waiting for it) at its first write, at a
        # SAVEPOINT, or at a SELECT ... FOR UPDATE, which SQLite cannot say itself.
        if conn.connection.dbapi_connection.in_transaction:
            return
        if _writes(statement, context):
            cursor.execute("BEGIN IMMEDIATE")

    return engine


_WRITE_WORDS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "CREATE", "DROP", "ALTER")


def _writes(statement: str, context) -> bool:
    if statement.lstrip()[:9].upper().startswith(_WRITE_WORDS):
        return True
    compiled = getattr(context, "compiled", None)
    select = getattr(compiled, "statement", None)
    return getattr(select, "_for_update_arg", None) is not None


@dataclass
class _AppDatabase:
    engine: sa.Engine
    bind: sa.Engine | sa.Connection
    options: dict = field(default_factory=dict)


class Database:
    """The engine of the current app, and a session per request (per thread)."""

    Model = Base
    metadata = Base.metadata

    def __init__(self) -> None:
        self.session = scoped_session(self._new_session)

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["portal_db"] = _AppDatabase(engine=engine, bind=engine)

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.session.remove()

    @property
    def engine(self) -> sa.Engine:
        return current_app.extensions["portal_db"].engine

    def bind_to(self, app: Flask, bind: sa.Engine | sa.Connection | None, **options) -> None:
        """Make the app's sessions use `bind` (tests: a connection in a transaction);
        None puts the app's engine back."""
        self.session.remove()
        state = app.extensions["portal_db"]
        state.bind = bind if bind is not None else state.engine
        state.options = options

    def new_session(self) -> Session:
        """A session of its own on the current app's database (jobs, not requests)."""
        return self._new_session()

    def _new_session(self) -> Session:
        state = current_app.extensions["portal_db"]
        return Session(bind=state.bind, expire_on_commit=False, **state.options)
