"""A PostgreSQL server of a test's own, to stop and start under a running gateway.

    with own_postgres() as server:
        ...server.url...       # a database on it
        server.stop()          # the database goes away (clients are disconnected)
        server.start()         # and comes back, on the same port

The suite's shared server (scripts/postgres.sh) stays up for the other tests. Under root the
server runs as the system user `postgres`, as scripts/postgres.sh runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.support.ports import free_port

DATABASE = "inbox"


def _bindir() -> Path | None:
    """The newest Debian-packaged PostgreSQL's binaries, if any."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    return next((p for p in found if (p / "initdb").exists()), None)


class PostgresServer:
    """A fresh cluster in a temporary folder, on a free port of the loopback."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="inbox-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *command: str, check: bool = True) -> None:
        if self.as_root:
            command = ("runuser", "-u", "postgres", "--", *command)
        subprocess.run(command, check=check, cwd="/", capture_output=True)

    def create(self) -> None:
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\n"
            )
        self.start()
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")

    def start(self) -> None:
        log = str(self.root / "server.log")
        self._run(str(self.bindir / "pg_ctl"), "start", "-D", str(self.data), "-l", log, "-w")

    def stop(self) -> None:
        """Stop the server, disconnecting every client (`pg_ctl stop -m fast`)."""
        self._run(str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w")

    def remove(self) -> None:
        pg_ctl = str(self.bindir / "pg_ctl")
        self._run(pg_ctl, "stop", "-D", str(self.data), "-m", "immediate", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def own_postgres() -> Iterator[PostgresServer]:
    """A started server with an empty database `inbox`, removed afterwards."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (scripts/postgres.sh start installs it)")
    server = PostgresServer(bindir)
    try:
        server.create()
        yield server
    finally:
        server.remove()
