"""What the database benchmarks share: the portal on a fresh database of their own."""

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from portal import create_app
from portal.extensions import db


@contextmanager
def portal_on_own_database(database_url: str | None, name: str) -> Iterator[Flask]:
    """The portal on a new, migrated database, inside its app context: a temporary
    SQLite file without a URL; with a PostgreSQL URL, a database `<name>_<random>` made
    on that server and dropped afterwards."""
    created, admin = None, None
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite:///{folder}/bench.db"
        if url.startswith("postgresql"):
            created = f"{name}_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{created}"')
            url = sa.engine.make_url(url).set(database=created).render_as_string(False)
        try:
            app = create_app(
                {
                    "DATABASE_URL": url,
                    "SECRET_KEY": "bench-secret-key-bench-secret-key",
                    "PORTAL_MODE": "development",
                    "PORTAL_JOBS_BACKGROUND": False,
                    "REDIS_URL": None,
                    "PORTAL_PUBLIC_URL": "http://127.0.0.1:5000",
                }
            )
            with app.app_context():
                upgrade(directory=app.extensions["migrate"].directory)
                yield app
                db.engine.dispose()
        finally:
            if created:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
                admin.dispose()
