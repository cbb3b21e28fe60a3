"""Empty databases: a SQLite file, or a fresh database on a PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

#: the environment variable holding the test PostgreSQL server's URL (`make test` sets it)
POSTGRES_ENV = "INBOX_TEST_POSTGRES_URL"


@contextmanager
def fresh_postgres(server_url: str, prefix: str = "t_") -> Iterator[str]:
    """A new empty database on the server of `server_url`, dropped afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = server_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def sqlite_url(folder: Path, name: str = "inbox.db") -> str:
    """The URL of a SQLite file in `folder` (created on first use)."""
    return f"sqlite:///{folder / name}"


@contextmanager
def empty_database(backend: str, folder: Path, postgres_server: str = "") -> Iterator[str]:
    """An empty database on `backend` ("sqlite": a file in `folder`; "postgres": a fresh
    database on `postgres_server`, dropped afterwards): its URL, while it exists."""
    if backend == "sqlite":
        yield sqlite_url(folder)
        return
    if backend != "postgres":
        raise ValueError(f"unknown backend {backend!r}")
    if not postgres_server:
        raise ValueError(f"no PostgreSQL server (set {POSTGRES_ENV})")
    with fresh_postgres(postgres_server) as url:
        yield url
