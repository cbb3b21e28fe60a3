"""A node stops while its PostgreSQL is away: the stop ends, says what becomes of the sends it
leaves, and once the database is back they are sent, once."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.background import Options
from tests.dispatch.harness import fake_channel, fixed_jitter, running
from tests.support.pgserver import own_postgres
from tests.support.polling import eventually

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

#: what the stop says when it cannot write, by what it leaves
WARNINGS = {
    "refused": "could not tell the other nodes of the sends this node leaves"
    ": the database cannot be reached",
    "unanswered": "could not let go of 1 claimed deliveries; their lease will lapse"
    ": the database cannot be reached",
}


@pytest.mark.parametrize("left", ["refused", "unanswered"])
async def test_a_node_stopped_while_the_database_is_away_leaves_its_sends_to_be_sent_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, left: str
) -> None:
    """The node holds a reply its provider refused for now (its retry timed), or one the
    provider had not answered when the stop's grace ended, as the database goes away. The
    stop cannot write then: it still ends, with a warning that says so rather than a
    traceback, and a node started once the database is back sends the reply when it falls
    due (the retry's time, or the end of the claim's lease)."""
    options = Options(
        uniform=fixed_jitter,
        sweep_seconds=0.2,
        lease=timedelta(seconds=2),
        send_timeout=3.0,
    )
    caplog.set_level(logging.WARNING)
    with own_postgres() as server:
        async with running(
            tmp_path / "a.sqlite",
            [fake_channel("chat")],
            delays=(1.0,),
            database_url=server.url,
            options=options,
            shutdown_grace=0.5,
        ) as node:
            chat = node.script("chat")
            message_id = await node.leave_a_reply(left, "visitor-1", "hello")
            server.stop()
        stop_said = [
            r.getMessage() for r in caplog.records if r.name == "gateway.outbound.dispatcher"
        ]
        assert WARNINGS[left] in stop_said
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert chat.sent == []
        server.start()
        async with running(
            tmp_path / "b.sqlite",
            [fake_channel("chat")],
            database_url=server.url,
            options=options,
        ) as again:
            sent = await eventually(lambda: again.script("chat").sent, timeout=15)
            assert [part.message_id for part in sent] == [message_id]
            await asyncio.sleep(0.5)
            assert len(again.script("chat").sent) == 1
