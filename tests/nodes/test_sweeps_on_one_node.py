"""A scheduled sweep runs on one node at a time: a node finding another node in the middle
of the same sweep skips it, and does it the next time round."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from gateway.background import alone, expire_all
from gateway.clock import now
from gateway.store import migrate
from gateway.store.database import create_db_engine
from gateway.store.models import IdempotencyRow
from tests.support import fresh_postgres


def test_a_sweep_another_node_is_doing_is_skipped(postgres_url: str) -> None:
    with fresh_postgres(postgres_url) as url:
        engine = create_db_engine(url)
        try:
            migrate.upgrade(engine)
            with Session(engine) as session:
                stale = now() - timedelta(hours=25)
                session.add(
                    IdempotencyRow(token_name="crm", key="k", message_id="m", created_at=stale)
                )
                session.commit()
            with Session(engine) as other_node, Session(engine) as this_node:
                # the other node is in the middle of its expiry sweep (its transaction is open)
                assert alone("expiry", lambda _: "sweeping", "skipped")(other_node) == "sweeping"
                assert alone("expiry", expire_all, (0, 0))(this_node) == (0, 0)
                this_node.commit()
                assert alone("closed-windows", lambda _: 1, 0)(this_node) == 1  # another sweep
                this_node.commit()
                other_node.commit()
                assert alone("expiry", expire_all, (0, 0))(this_node) == (1, 0)
                this_node.commit()
                assert this_node.exec(select(IdempotencyRow)).all() == []
        finally:
            engine.dispose()
