"""Alembic environment: migrations run against the app's own engine and metadata."""

from alembic import context
from flask import current_app

import portal.models  # noqa: F401  (registers every table on the metadata)
from portal.extensions import db

config = context.config


def run_migrations_offline() -> None:
    context.configure(
        url=current_app.config["DATABASE_URL"],
        target_metadata=db.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite rebuilds a table to alter it; foreign keys must be off meanwhile, and
            # the pragma only works outside a transaction, so it goes to the driver directly.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=db.metadata,
            # SQLite cannot ALTER most things: batch mode rebuilds tables instead.
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
