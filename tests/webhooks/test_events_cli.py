"""`inbox-gateway events`: lists what subscribers did not get, and queues events again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gateway.background import Options
from gateway.backoff import Schedule
from gateway.cli.commands import main
from gateway.events import outbox
from tests.dispatch.harness import Running, config_text, fixed_jitter, running
from tests.support.polling import eventually
from tests.webhooks.subscriber import subscriber
from tests.webhooks.test_webhooks import states_are

IMPATIENT = Options(
    webhook_schedule=Schedule((0.05,), 0.05, timedelta(seconds=0.2)),
    uniform=fixed_jitter,
    sweep_seconds=0.1,
)


async def emit(run: Running, entity_id: str) -> str:
    def write(session: object) -> str:
        from sqlmodel import Session

        assert isinstance(session, Session)
        return outbox.emit(
            session,
            "conversations_merged",
            entity_id,
            {"x": 1},
            conversation_id=None,
            entity_fqdn=outbox.CONVERSATION,
        ).id

    return await run.gateway.db.write(write)


async def test_failed_events_are_listed_and_replayed_after_a_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "db.sqlite"
    async with subscriber(status=500) as sub:
        text = config_text(db, (), webhooks=[sub.webhook()])
        config = tmp_path / "inbox-gateway.toml"
        config.write_text(text)
        async with running(db, (), webhooks=[sub.webhook()], options=IMPATIENT) as run:
            event_id = await emit(run, "conv-1")
            await eventually(lambda: states_are(run, ["FAILED"]))

        assert main(["events", "--config", str(config), "--failed"]) == 0
        out = capsys.readouterr().out
        assert "1 failed" in out
        assert event_id in out and "HTTP 500" in out

        assert main(["events", "--config", str(config), "--replay-failed"]) == 0
        assert "1 failed event(s) will be sent again" in capsys.readouterr().out
        assert main(["events", "--config", str(config), "--pending"]) == 0
        assert event_id in capsys.readouterr().out

        sub.status = 200
        async with running(db, (), webhooks=[sub.webhook()], options=IMPATIENT) as run:
            await eventually(
                lambda: event_id in sub.ids() and sub.received[-1].body["id"] == event_id
            )
            await eventually(lambda: states_are(run, []))


def test_replaying_an_unknown_event_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "inbox-gateway.toml"
    config.write_text(config_text(tmp_path / "db.sqlite"))
    assert main(["events", "--config", str(config), "--replay", "nope"]) == 1
    said = capsys.readouterr().err
    assert "no event 'nope'" in said
    # it may have been pruned: the message says how long the outbox keeps events
    assert "keeps events for 30 days" in said
