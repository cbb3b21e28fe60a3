"""Agents' sessions, kept in the database so that logging out ends them on every node.

A login writes a row; the cookie carries a random token and the row only its SHA-256. Logging
out deletes the row, a session past `expires_at` is refused (and its row swept at the next
login), and the row's `password_tag` stops matching when the agent's password changes.

Each node remembers a session it has read for `CACHE_SECONDS`, so a page's requests cost no
database read each. Logging out forgets it at once on the node that served the logout; the
other nodes notice within `CACHE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from gateway.clock import aware, now
from gateway.store.database import Database
from gateway.store.models import AgentSessionRow

SESSION_SECONDS = 12 * 3600
#: how long a node trusts a session it has read before reading it again
CACHE_SECONDS = 5.0
#: sessions remembered per node; the least recently used is forgotten first
MAX_CACHED = 10_000
#: a cookie longer than any token we issue is not worth hashing
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class AgentSession:
    """One agent's login, as stored."""

    id: str
    username: str
    password_tag: str
    expires_at: datetime


def session_id(token: str) -> str:
    """The row key of a cookie's token: its SHA-256, so the table holds no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Opens, finds and closes agents' sessions; remembers recent look-ups briefly."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, AgentSession]] = OrderedDict()

    async def open(self, username: str, password_tag: str) -> str:
        """Store a new session for the agent; answers the token for the cookie."""
        token = secrets.token_urlsafe(32)
        at = now()
        row = AgentSessionRow(
            id=session_id(token),
            username=username,
            password_tag=password_tag,
            created_at=at,
            expires_at=at + timedelta(seconds=SESSION_SECONDS),
        )

        def write(session: Session) -> None:
            # Expired sessions go when someone logs in, so the table never outgrows its use.
            session.execute(delete(AgentSessionRow).where(col(AgentSessionRow.expires_at) < at))
            session.add(row)

        await self.db.write(write)
        return token

    async def find(self, token: str) -> AgentSession | None:
        """The live session a cookie's token names, or None."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        key = session_id(token)
        cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] < CACHE_SECONDS:
            self._cache.move_to_end(key)
            found: AgentSession | None = cached[1]
        else:
            found = await self.db.read(lambda s: _read(s, key))
            self._remember(key, found)
        if found is None or aware(found.expires_at) <= now():
            return None
        return found

    async def close(self, token: str) -> AgentSession | None:
        """End the session a token names (logging out); answers it when it was live."""
        found = await self.find(token)
        key = session_id(token)
        self._cache.pop(key, None)

        def write(session: Session) -> None:
            session.execute(delete(AgentSessionRow).where(col(AgentSessionRow.id) == key))

        await self.db.write(write)
        return found

    def _remember(self, key: str, found: AgentSession | None) -> None:
        if found is None:
            self._cache.pop(key, None)
            return
        self._cache[key] = (self._clock(), found)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)


def _read(session: Session, key: str) -> AgentSession | None:
    row = session.get(AgentSessionRow, key)
    if row is None:
        return None
    return AgentSession(row.id, row.username, row.password_tag, row.expires_at)
