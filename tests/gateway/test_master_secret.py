"""Two nodes making the master secret at the same moment end up with the same one."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text
from sqlmodel import Session

from gateway.store import migrate
from gateway.store.database import create_db_engine
from gateway.store.secrets import master_secret
from tests.support.databases import fresh_postgres


def _waiting_on_a_lock(session: Session) -> bool:
    waiting = session.execute(
        text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    ).scalar_one()
    return bool(waiting)


def test_two_nodes_making_the_secret_at_once_agree(postgres_url: str) -> None:
    with fresh_postgres(postgres_url) as url:
        engine = create_db_engine(url)
        try:
            migrate.upgrade(engine)
            found: dict[str, bytes | BaseException] = {}
            with Session(engine) as first:
                mine = master_secret(first)  # proposed, not committed yet

                def other_node() -> None:
                    try:
                        with Session(engine) as second:
                            found["other"] = master_secret(second)
                            second.commit()
                    except BaseException as exc:  # reported below
                        found["other"] = exc

                thread = threading.Thread(target=other_node)
                thread.start()
                with Session(engine) as observer:
                    deadline = time.monotonic() + 10
                    while not _waiting_on_a_lock(observer) and "other" not in found:
                        assert time.monotonic() < deadline, (
                            "the other node neither waited nor ended"
                        )
                        time.sleep(0.02)
                first.commit()
            thread.join(10)
            assert found["other"] == mine
        finally:
            engine.dispose()
