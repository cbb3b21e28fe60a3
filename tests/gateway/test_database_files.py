"""The SQLite file holds the master secret that signs every visitor token: it and its WAL and
shared-memory files are readable by their owner only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.store import migrate
from gateway.store.database import create_db_engine


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask, under which files are created world-readable by default."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def use(path: Path) -> None:
    """Migrate and write, as the daemon does at start, keeping the connection open."""
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        migrate.upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            connection.execute(text("INSERT INTO probe VALUES (1)"))
        with engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM probe"))
            for name in ("inbox.db", "inbox.db-wal", "inbox.db-shm"):
                assert mode(path.parent / name) == 0o600, name
    finally:
        engine.dispose()


def test_a_new_database_and_its_wal_and_shm_files_are_private(
    tmp_path: Path, open_umask: None
) -> None:
    use(tmp_path / "inbox.db")


def test_an_existing_readable_database_is_made_private(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "inbox.db"
    use(path)
    for name in ("inbox.db", "inbox.db-wal", "inbox.db-shm"):
        if (tmp_path / name).exists():
            os.chmod(tmp_path / name, 0o644)
    use(path)
