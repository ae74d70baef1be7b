"""A database of its own for a benchmark: a temporary SQLite file, or a new database on a
PostgreSQL server, dropped afterwards; and the app on it, migrated."""

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


@contextmanager
def scratch_database(server_url: str | None, name: str) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in a temporary folder without
    `server_url`, else `<name>_<random>` created on that PostgreSQL server and dropped
    (with any connection left) when the block ends."""
    with tempfile.TemporaryDirectory() as folder:
        if not server_url or not server_url.startswith("postgresql"):
            yield server_url or f"sqlite:///{folder}/bench.db"
            return
        created = f"{name}_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{created}"')
        try:
            yield (
                sa.engine.make_url(server_url)
                .set(drivername="postgresql+psycopg", database=created)
                .render_as_string(False)
            )
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
            admin.dispose()


def migrated_app(database_url: str, **overrides):
    """The portal on `database_url` as a benchmark runs it (development mode, no job
    thread, no Redis), its database migrated."""
    from flask_migrate import upgrade

    from portal import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-secret-key-bench-secret-key",
            "PORTAL_MODE": "development",
            "PORTAL_JOBS_BACKGROUND": False,
            "REDIS_URL": None,
            "PORTAL_PUBLIC_URL": "http://127.0.0.1:5000",
            **overrides,
        }
    )
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app
