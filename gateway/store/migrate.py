"""Schema migrations (Alembic), applied at start and by `inbox-gateway migrate`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")

#: the PostgreSQL advisory lock held while the schema is brought up to date (any fixed number
#: the gateway uses for nothing else: "inbx" in ASCII)
MIGRATION_LOCK = 0x696E6278


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # the option is read with ConfigParser's interpolation: a % (an escaped @ in a password or
    # a path) must be doubled
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already)."""
    with engine.begin() as connection:
        _one_migrator_at_a_time(connection)
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _one_migrator_at_a_time(connection: Connection) -> None:
    """On PostgreSQL, wait for any other node migrating the same database to commit.

    Nodes started together on an empty database would each create the tables and all but one
    would fail; holding this lock to the end of the transaction, the first one migrates and the
    others then find the schema current. (SQLite's write lock already serialises migrations.)
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def revision(engine: Engine, message: str) -> None:
    """Write a new revision from the difference between the models and the database."""
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
