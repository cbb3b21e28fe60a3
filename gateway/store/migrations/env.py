"""Alembic environment: the gateway hands in its engine's connection."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import gateway.store.models
import gateway.store.webhook_models  # noqa: F401

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only used when alembic is run by hand
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite://")
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
