"""Migrations: they build exactly the schema the models describe, and go down and up."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from portal.extensions import db


def test_migrated_schema_matches_the_models(migrated_app):
    with migrated_app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


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
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, db.metadata) == []


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
