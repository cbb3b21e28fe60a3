"""The dispatcher sends queued messages, part by part, and records what the provider said."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from channels import DeliveryStatus
from gateway.clock import aware, now
from gateway.store.models import DeliveryPartRow, DeliveryRow, EventRow, MenuRow
from tests.dispatch.harness import Running, fake_channel, running
from tests.support.polling import eventually

#: times as SQLite stores them, long past and far ahead
PAST = "2000-01-01 00:00:00.000000"
FUTURE = "2999-01-01 00:00:00.000000"


async def _status(run: Running, message_id: str) -> str:
    row = await run.delivery(message_id)
    return row.status


async def _status_is(run: Running, message_id: str, status: str) -> bool:
    return await _status(run, message_id) == status


async def test_a_queued_message_is_sent_and_marked_sent(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite") as run:
        message_id = await run.queue("+15550002222", "Your order shipped")
        await eventually(lambda: _is_sent(run, message_id))
        row = await run.delivery(message_id)
        [part] = run.script().sent
        assert part.recipient == "+15550002222"
        assert part.message_id == message_id
        assert row.provider_message_ids and len(row.provider_message_ids) == 1
        assert row.accepted_at is not None and row.claimed_until is None
        events = await run.read(
            lambda s: list(
                s.exec(select(EventRow).where(EventRow.slug == "message_delivery_updated"))
            )
        )
        assert [e.body["delivery"]["status"] for e in events] == ["SENT"]
        assert events[0].body["messageId"] == message_id


async def _is_sent(run: Running, message_id: str) -> bool:
    return await _status(run, message_id) == DeliveryStatus.SENT.value


async def test_a_long_message_goes_out_in_parts_each_recorded(tmp_path: Path) -> None:
    text = " ".join(f"word{i}" for i in range(30))
    async with running(tmp_path / "db.sqlite", fake_channel("sms", text_limit=40)) as run:
        message_id = await run.queue("+15550002222", text)
        await eventually(lambda: _is_sent(run, message_id))
        sent = run.script().sent
        assert len(sent) > 1
        assert [p.index for p in sent] == list(range(len(sent)))
        row = await run.delivery(message_id)
        parts = await run.read(
            lambda s: list(
                s.exec(select(DeliveryPartRow).where(DeliveryPartRow.message_id == message_id))
            )
        )
        assert row.parts_sent == row.parts_total == len(sent)
        assert sorted(p.part_index for p in parts) == list(range(len(sent)))
        assert row.provider_message_ids == [
            p.provider_message_id for p in sorted(parts, key=lambda p: p.part_index)
        ]


async def test_messages_to_one_person_go_out_in_the_order_they_were_written(
    tmp_path: Path,
) -> None:
    async with running(tmp_path / "db.sqlite", workers=8) as run:
        ids = [await run.queue("+15550002222", f"message {i}") for i in range(8)]
        await eventually(lambda: len(run.script().sent) == 8)
        assert [p.message_id for p in run.script().sent] == ids


async def test_a_template_with_buttons_leaves_a_numbered_menu_for_replies(
    tmp_path: Path,
) -> None:
    template = {
        "template": {
            "title": "Pick a time",
            "buttons": [
                {"label": "Morning", "postbackProperties": {"interactionId": "am"}},
                {"label": "Evening", "postbackProperties": {"interactionId": "pm"}},
            ],
        }
    }
    async with running(tmp_path / "db.sqlite") as run:
        message_id = await run.queue("+15550002222", content=template)
        await eventually(lambda: _is_sent(run, message_id))
        menus = await run.read(lambda s: list(s.exec(select(MenuRow))))
        assert len(menus) == 1
        assert menus[0].message_id == message_id
        assert menus[0].choices == [
            {"label": "Morning", "interactionId": "am"},
            {"label": "Evening", "interactionId": "pm"},
        ]
        assert "1)" in run.script().sent[0].part.text  # type: ignore[union-attr]


async def test_a_status_reached_during_the_send_is_never_moved_back(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite") as run:
        script = run.script()
        script.gate = asyncio.Event()
        message_id = await run.queue("+15550002222", "hi")
        await eventually(lambda: len(script.calls) == 1)

        def delivered_early(session: Session) -> None:
            row = session.get(DeliveryRow, message_id)
            assert row is not None
            row.status = DeliveryStatus.DELIVERED.value

        await run.gateway.db.write(delivered_early)
        script.gate.set()
        await eventually(lambda: _accepted(run, message_id))
        assert await _status(run, message_id) == "DELIVERED"


async def _accepted(run: Running, message_id: str) -> bool:
    row = await run.delivery(message_id)
    return row.accepted_at is not None


async def test_a_delivery_to_a_removed_channel_fails_with_a_note(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    async with running(db, [fake_channel("sms"), fake_channel("old")]) as run:
        script = run.script("old")
        script.gate = asyncio.Event()  # keep it from going out before the channel is removed
        message_id = await run.queue("+15550002222", "hi", channel_id="old")
        await eventually(lambda: len(script.calls) == 1)
    # the provider never answered, so the stop kept the claim: a minute later its lease is over
    with sqlite3.connect(db) as connection:
        connection.execute(
            f"UPDATE deliveries SET claimed_until = '{PAST}', next_attempt_at = '{PAST}'"
        )
    async with running(db) as run:
        await eventually(lambda: _status_is(run, message_id, "FAILED"))
        row = await run.delivery(message_id)
        assert row.error_code == "CHANNEL_NOT_CONFIGURED"
        assert any("could not be delivered on old" in n for n in await run.notes())


async def test_deliveries_left_claimed_by_a_crash_are_sent_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    async with running(db) as run:
        script = run.script()
        script.gate = asyncio.Event()
        first = await run.queue("+15550002222", "in flight at the crash")
        second = await run.queue("+15550003333", "waiting at the crash")
        await eventually(lambda: len(script.calls) >= 1)
    # what a killed process leaves behind: claims nobody will finish, on attempts that were due
    with sqlite3.connect(db) as connection:
        connection.execute(
            f"UPDATE deliveries SET claimed_until = '{FUTURE}', next_attempt_at = '{PAST}'"
        )
    async with running(db) as run:
        await eventually(lambda: _both_sent(run, first, second))
        texts = sorted(p.part.text for p in run.script().sent)  # type: ignore[union-attr]
        assert texts == ["in flight at the crash", "waiting at the crash"]


async def _both_sent(run: Running, *ids: str) -> bool:
    return all([await _is_sent(run, i) for i in ids])


async def test_next_attempt_is_stored_so_nothing_waits_in_memory(tmp_path: Path) -> None:
    from channels import SendError

    async with running(tmp_path / "db.sqlite", delays=(600,)) as run:
        run.script().errors.append(SendError("busy", retryable=True))
        before = now()
        message_id = await run.queue("+15550002222", "hi")
        await eventually(lambda: _attempted(run, message_id))
        row = await run.delivery(message_id)
        assert row.status == "PENDING" and row.claimed_until is None
        assert row.next_attempt_at is not None
        assert aware(row.next_attempt_at) >= before + timedelta(seconds=600)


async def _attempted(run: Running, message_id: str) -> bool:
    row = await run.delivery(message_id)
    return row.attempts > 0
