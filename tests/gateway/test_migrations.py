"""The migrations build exactly the schema the models describe, on each database."""

from __future__ import annotations

from pathlib import Path

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


def test_a_database_whose_url_holds_a_percent_sign_is_migrated(tmp_path: Path) -> None:
    """An escaped `@` (`%40`, as in a PostgreSQL password or a folder `shop@prod`) stopped
    `migrate` with "invalid interpolation syntax"."""
    folder = tmp_path / "shop@prod"
    folder.mkdir()
    engine = create_db_engine(f"sqlite:///{folder}/inbox.db")
    assert "%40" in engine.url.render_as_string(hide_password=False)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() is not None
    finally:
        engine.dispose()
