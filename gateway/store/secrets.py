"""The installation's master secret, created once and kept in the database."""

from __future__ import annotations

import secrets

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from gateway.store.models import SecretRow

MASTER = "master"


def master_secret(session: Session) -> bytes:
    """The master secret, created on first use (web chat tokens and agent sessions use it).

    Nodes started together on an empty database each propose one; the insert keeps the first
    committed and the others read it back, so every node signs with the same secret.
    """
    value = _stored(session)
    if value is None:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        proposal = {"name": MASTER, "value": secrets.token_hex(32)}
        session.execute(insert(SecretRow).values(proposal).on_conflict_do_nothing())
        value = _stored(session)
        assert value is not None, "the secret was just stored"
    return bytes.fromhex(value)


def _stored(session: Session) -> str | None:
    return session.exec(select(SecretRow.value).where(SecretRow.name == MASTER)).first()
