"""Provider webhooks that arrived while the database was away, kept on local disk until it is
back: each is written and fsync'd before the provider is answered, and handed in again in the
order it arrived.

Every process of a gateway may share one folder: a process takes a file by renaming it
(atomic), and gives back the ones it held when it ended without finishing them.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import itertools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from channels import WebhookRequest

#: the most requests kept at once; beyond it a request is answered 503 like any other
LIMIT = 100_000
WAITING = ".json"


@dataclass(frozen=True)
class Taken:
    """A spooled request this process holds while handing it in."""

    path: Path
    request: WebhookRequest


class Spool:
    """One folder of spooled requests, named so that sorting them gives the order of arrival."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._numbers = itertools.count()
        #: whether this process spooled requests not handed in yet: later ones join them
        self.behind = False

    def put(self, request: WebhookRequest) -> bool:
        """Write `request` durably; False when the spool is full."""
        # the bodies hold people's messages: readable by the daemon's user only
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if len(self.waiting()) >= LIMIT:
            return False
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._numbers):08d}{WAITING}"
        data = json.dumps(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": base64.b64encode(request.body).decode(),
                "public_url": request.public_url,
                "remote": request.remote,
            }
        ).encode()
        partial = self.folder / f".{name}.partial"
        with partial.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        partial.rename(self.folder / name)
        _sync_folder(self.folder)
        self.behind = True
        return True

    def waiting(self) -> list[Path]:
        """The requests not taken by any process, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.endswith(WAITING))

    def take(self, path: Path) -> Taken | None:
        """Hold the request of `path` (None: another process took it first)."""
        held = path.with_name(f"{path.name}.{os.getpid()}.taken")
        try:
            path.rename(held)
        except FileNotFoundError:
            return None
        raw = json.loads(held.read_bytes())
        request = WebhookRequest(
            method=raw["method"],
            path=raw["path"],
            query=raw["query"],
            headers=raw["headers"],
            body=base64.b64decode(raw["body"]),
            public_url=raw["public_url"],
            remote=raw["remote"],
        )
        return Taken(held, request)

    def give_back(self, taken: Taken) -> None:
        """Put a request back to be handed in later, in its place in the order."""
        taken.path.rename(_waiting_name(taken.path))

    def done(self, taken: Taken) -> None:
        """Forget a request that was handed in."""
        taken.path.unlink(missing_ok=True)
        _sync_folder(self.folder)

    @contextlib.contextmanager
    def turn(self) -> Iterator[bool]:
        """Whether this process may hand requests in now: one process at a time, so that
        they are stored in the order they arrived."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def recover(self) -> int:
        """Give back the requests held by processes that ended; answers how many."""
        if not self.folder.is_dir():
            return 0
        count = 0
        for held in self.folder.glob(f"*{WAITING}.*.taken"):
            pid = int(held.name.rsplit(".", 2)[1])
            if pid == os.getpid() or not _alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    held.rename(_waiting_name(held))
                    count += 1
        return count


def _waiting_name(held: Path) -> Path:
    return held.with_name(held.name.rsplit(".", 2)[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sync_folder(folder: Path) -> None:
    """fsync the folder, so a rename or unlink in it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
