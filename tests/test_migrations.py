"""Migrations: they build exactly the schema the models describe, and go down and up."""

import pytest
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
