"""The migrations build exactly the schema the models describe, on each database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import gateway.store.models
import gateway.store.webhook_models  # noqa: F401
from gateway.store import migrate
from gateway.store.database import create_db_engine


def test_a_migrated_database_matches_the_models(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == []
