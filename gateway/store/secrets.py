"""The installation's master secret, created once and kept in the database."""

from __future__ import annotations

import secrets

from sqlmodel import Session

from gateway.store.models import SecretRow

MASTER = "master"


def master_secret(session: Session) -> bytes:
    """The master secret, created on first use (web chat tokens and agent sessions use it)."""
    row = session.get(SecretRow, MASTER)
    if row is None:
        row = SecretRow(name=MASTER, value=secrets.token_hex(32))
        session.add(row)
        session.flush()
    return bytes.fromhex(row.value)
