"""The SQLite database file is the installation's master secret too: only its owner reads it."""

from __future__ import annotations

import logging
import os
from contextlib import suppress

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

#: owner read and write, nobody else
PRIVATE = 0o600


def sqlite_path(sa_url: str) -> str | None:
    """The file a SQLite URL names, or None (in memory, or a `file:` URI)."""
    database = make_url(sa_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def keep_private(path: str) -> None:
    """Create the database file 0600 before SQLite does, and narrow it (and its -wal and -shm
    files) when an older version left them readable by others.

    SQLite gives a database's -wal and -shm files the mode of the database file itself, so
    creating that one privately is what keeps all three private.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE)  # the mode applies if created
    except OSError:
        return  # no such folder, or not ours: SQLite reports it when it opens the file
    os.close(fd)
    for name in (path, path + "-wal", path + "-shm"):
        with suppress(FileNotFoundError):
            mode = os.stat(name).st_mode & 0o777
            if mode & ~PRIVATE:
                try:
                    os.chmod(name, PRIVATE)
                except PermissionError:
                    log.warning("%s is readable by others and cannot be made private", name)
