"""Outgoing webhooks: signed, in order, retried, per subscriber, and kept across restarts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from gateway.background import Options
from gateway.backoff import Schedule
from gateway.cli.events import replay_one
from gateway.events.subscribers.signature import sign, verify
from gateway.store.models import EventRow
from gateway.store.webhook_models import WebhookAttemptRow
from tests.dispatch.harness import Running, fixed_jitter, running
from tests.support.polling import eventually
from tests.webhooks.subscriber import subscriber

FAST = Options(
    webhook_schedule=Schedule((0.05, 0.1, 0.2), 0.2, timedelta(hours=24)),
    uniform=fixed_jitter,
    sweep_seconds=0.1,
)


async def outbox(run: Running) -> list[EventRow]:
    return await run.read(lambda s: list(s.exec(select(EventRow).order_by(EventRow.seq))))  # type: ignore[arg-type]


def test_a_signature_verifies_only_with_the_same_secret_body_and_recent_time() -> None:
    header = sign("s3cret", b'{"a":1}', timestamp=1_700_000_000)
    assert verify("s3cret", b'{"a":1}', header, now=1_700_000_010)
    assert not verify("other", b'{"a":1}', header, now=1_700_000_010)
    assert not verify("s3cret", b'{"a":2}', header, now=1_700_000_010)
    assert not verify("s3cret", b'{"a":1}', header, now=1_700_009_999)
    assert not verify("s3cret", b'{"a":1}', "garbage", now=1_700_000_000)


async def test_every_event_reaches_the_subscriber_signed_and_in_order(tmp_path: Path) -> None:
    async with (
        subscriber() as sub,
        running(tmp_path / "db.sqlite", webhooks=[sub.webhook()], options=FAST) as run,
    ):
        for i in range(3):
            await run.queue(f"+1555000100{i}", f"hello {i}")
        await eventually(lambda: len(sub.accepted) == 6)  # 3 messages + 3 delivery updates
        events = await outbox(run)
        assert sub.ids() == [e.id for e in events]
        assert sub.all_signed()
        first = sub.accepted[0]
        assert first["slug"] == "message_sent_to_participant"
        assert first["entityFqdn"] == "inbox.v2.message"
        assert first["actionEvent"]["body"]["message"]["content"]["basic"]["items"] == [
            {"text": "hello 0"}
        ]
        assert len(sub.received) == 6  # nothing was sent twice


async def test_a_subscriber_gets_only_the_events_it_asked_for(tmp_path: Path) -> None:
    async with (
        subscriber() as sub,
        running(
            tmp_path / "db.sqlite",
            webhooks=[sub.webhook(["message_delivery_updated"])],
            options=FAST,
        ) as run,
    ):
        await run.queue("+15550001000", "hello")
        await eventually(lambda: len(sub.accepted) == 1)
        assert sub.accepted[0]["slug"] == "message_delivery_updated"
        assert sub.accepted[0]["actionEvent"]["body"]["delivery"]["status"] == "SENT"


async def test_a_refused_event_is_retried_with_the_same_id_and_later_ones_wait(
    tmp_path: Path,
) -> None:
    async with (
        subscriber(statuses=[500, 503, 404]) as sub,
        running(tmp_path / "db.sqlite", webhooks=[sub.webhook()], options=FAST) as run,
    ):
        await run.queue("+15550001000", "first")
        await run.queue("+15550002000", "second")
        await eventually(lambda: len(sub.accepted) == 4 and len(sub.received) == 7)
        events = await outbox(run)
        assert [r.body["id"] for r in sub.received[:4]] == [events[0].id] * 4
        assert sub.ids() == [e.id for e in events]
        attempts = await run.read(lambda s: list(s.exec(select(WebhookAttemptRow))))
        assert attempts == []  # nothing left to retry


async def test_conversation_events_arrive_in_order_despite_failures(tmp_path: Path) -> None:
    async with (
        subscriber(statuses=[500, 200, 500, 200, 500]) as sub,
        running(tmp_path / "db.sqlite", webhooks=[sub.webhook()], options=FAST) as run,
    ):
        for i in range(4):
            await run.queue("+15550001000", f"a{i}")
            await run.queue("+15550002000", f"b{i}")
        await eventually(lambda: len(sub.accepted) == 16)
        by_conversation: dict[str, list[str]] = {}
        for body in sub.accepted:
            conversation = body["actionEvent"]["body"]["conversationId"]
            by_conversation.setdefault(conversation, []).append(body["id"])
        events = await outbox(run)
        for conversation, ids in by_conversation.items():
            assert ids == [e.id for e in events if e.conversation_id == conversation]


async def test_a_dead_subscriber_does_not_hold_up_another(tmp_path: Path) -> None:
    async with (
        subscriber(status=503) as dead,
        subscriber() as alive,
        running(
            tmp_path / "db.sqlite", webhooks=[dead.webhook(), alive.webhook()], options=FAST
        ) as run,
    ):
        for i in range(3):
            await run.queue(f"+1555000100{i}", f"hello {i}")
        await eventually(lambda: len(alive.accepted) == 6)
        events = await outbox(run)
        assert alive.ids() == [e.id for e in events]
        assert {r.body["id"] for r in dead.received} == {events[0].id}


async def test_an_event_is_given_up_after_the_patience_and_can_be_replayed(
    tmp_path: Path,
) -> None:
    impatient = Options(
        webhook_schedule=Schedule((0.05,), 0.05, timedelta(seconds=0.3)),
        uniform=fixed_jitter,
        sweep_seconds=0.1,
    )
    async with (
        subscriber(status=500) as sub,
        running(
            tmp_path / "db.sqlite",
            webhooks=[sub.webhook(["message_sent_to_participant"])],
            options=impatient,
        ) as run,
    ):
        await run.queue("+15550001000", "given up")
        await eventually(lambda: states_are(run, ["FAILED"]))
        sub.status = 200
        await run.queue("+15550002000", "after it")
        events = [e for e in await outbox(run) if e.slug == "message_sent_to_participant"]
        await eventually(lambda: events[1].id in sub.ids())
        given_up = events[0]
        before = len(sub.received)
        config = run.gateway.config
        assert await run.gateway.db.write(lambda s: replay_one(s, config, given_up.id)) == 0
        await eventually(lambda: len(sub.received) == before + 1)
        assert sub.received[-1].body["id"] == given_up.id
        await eventually(lambda: states_are(run, []))


async def states_are(run: Running, expected: list[str]) -> bool:
    rows = await run.read(lambda s: list(s.exec(select(WebhookAttemptRow))))
    return [r.state for r in rows] == expected


async def test_events_not_yet_delivered_go_out_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    async with subscriber(status=503) as sub:
        async with running(db, webhooks=[sub.webhook()], options=FAST) as run:
            ids = [await run.queue(f"+1555000100{i}", f"hello {i}") for i in range(3)]
            await eventually(lambda: len(sub.received) >= 2)

            async def all_sent() -> bool:
                return all([(await run.delivery(i)).status == "SENT" for i in ids])

            # Once every send is recorded no new event appears: the outbox is complete.
            await eventually(all_sent)
            events = await outbox(run)
        sub.status = 200
        async with running(db, webhooks=[sub.webhook()], options=FAST) as run:
            await eventually(lambda: len(sub.accepted) == len(events))
            assert sub.ids() == [e.id for e in events]
