"""The tables as SQLAlchemy Core sees them, for the statements of the busy write paths."""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import SQLModel

# Importing the models registers their tables in the metadata read below.
from gateway.store import models as _models

_tables = SQLModel.metadata.tables
assert _models.MessageRow.__tablename__ == "messages"

CONTACTS: Table = _tables["contacts"]
IDENTITIES: Table = _tables["identities"]
CONVERSATIONS: Table = _tables["conversations"]
MESSAGES: Table = _tables["messages"]
DELIVERIES: Table = _tables["deliveries"]
DELIVERY_PARTS: Table = _tables["delivery_parts"]
EVENTS: Table = _tables["events"]
MENUS: Table = _tables["menus"]
EARLY_STATUSES: Table = _tables["early_statuses"]
IDEMPOTENCY_KEYS: Table = _tables["idempotency_keys"]
