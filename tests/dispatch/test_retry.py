"""Failed sends: retried on the configured schedule, or failed with a note for the agents."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import select

from channels import SendError
from gateway.background import DISPATCHER
from gateway.clock import aware, now
from gateway.store.models import DeliveryRow, EventRow, IdentityRow
from tests.dispatch.harness import Running, fake_channel, running
from tests.support.polling import eventually

BUSY = SendError("provider busy", code="HTTP_503", retryable=True)


async def attempts_reach(run: Running, message_id: str, attempts: int) -> bool:
    row = await run.delivery(message_id)
    return row.attempts >= attempts and row.claimed_until is None


async def status_is(run: Running, message_id: str, status: str) -> bool:
    return (await run.delivery(message_id)).status == status


async def make_due(run: Running, message_id: str) -> datetime:
    """Skip the wait: the delivery falls due now (as if its retry time had come)."""
    await run.retry_at(message_id, now())
    stamp = now()
    run.app[DISPATCHER].wake()
    return stamp


def waited(row: DeliveryRow, since: datetime) -> float:
    assert row.next_attempt_at is not None
    return (aware(row.next_attempt_at) - since).total_seconds()


async def test_retryable_failures_follow_the_retry_delays_then_fail(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite", delays=(30, 60)) as run:
        run.script().errors.extend([BUSY, BUSY, BUSY])
        since = now()
        message_id = await run.queue("+15550002222", "hi")
        await eventually(lambda: attempts_reach(run, message_id, 1))
        row = await run.delivery(message_id)
        assert row.status == "PENDING"
        assert 30 <= waited(row, since) < 31

        since = await make_due(run, message_id)
        await eventually(lambda: attempts_reach(run, message_id, 2))
        row = await run.delivery(message_id)
        assert row.status == "PENDING"
        assert 60 <= waited(row, since) < 61

        await make_due(run, message_id)
        await eventually(lambda: status_is(run, message_id, "FAILED"))
        row = await run.delivery(message_id)
        assert row.attempts == 3 and row.error_code == "HTTP_503"
        assert len(run.script().calls) == 3 and not run.script().sent
        [note] = await run.notes()
        assert note.startswith("Message could not be delivered on sms: provider busy")


async def test_a_retry_never_comes_sooner_than_retry_after_asks(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite", delays=(1, 2)) as run:
        run.script().errors.append(
            SendError("slow down", code="HTTP_429", retryable=True, retry_after=90)
        )
        since = now()
        message_id = await run.queue("+15550002222", "hi")
        await eventually(lambda: attempts_reach(run, message_id, 1))
        assert 90 <= waited(await run.delivery(message_id), since) < 91


async def test_a_message_goes_out_once_the_provider_recovers(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite", delays=(0.05, 0.05, 0.05)) as run:
        run.script().errors.extend([BUSY, BUSY])
        message_id = await run.queue("+15550002222", "hi")
        await eventually(lambda: status_is(run, message_id, "SENT"))
        row = await run.delivery(message_id)
        assert row.attempts == 2
        assert len(run.script().calls) == 3 and len(run.script().sent) == 1
        assert row.error_code is None


async def test_a_permanent_failure_fails_at_once_with_a_note(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite") as run:
        run.script().errors.append(SendError("the number is not a mobile number", code="21614"))
        message_id = await run.queue("+15550002222", "hi")
        await eventually(lambda: status_is(run, message_id, "FAILED"))
        row = await run.delivery(message_id)
        assert row.error_code == "21614"
        assert row.error_message == "the number is not a mobile number"
        assert len(run.script().calls) == 1
        assert await run.notes() == [
            "Message could not be delivered on sms: the number is not a mobile number"
        ]
        events = await run.read(lambda s: list(s.exec(select(EventRow))))
        failed = [e for e in events if e.slug == "message_delivery_updated"]
        assert [e.body["delivery"]["status"] for e in failed] == ["FAILED"]
        assert failed[0].body["delivery"]["error"]["code"] == "21614"


async def test_an_opted_out_recipient_is_marked_so(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite") as run:
        run.script().errors.append(
            SendError("the recipient unsubscribed", code="21610", opted_out=True)
        )
        message_id = await run.queue("+15550002222", "hi")
        await eventually(lambda: status_is(run, message_id, "FAILED"))
        identity = await run.read(
            lambda s: s.exec(select(IdentityRow).where(IdentityRow.address == "+15550002222")).one()
        )
        assert identity.opted_out


async def test_an_adapter_that_crashes_is_retried_not_failed(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite", delays=(600,)) as run:
        run.script().errors.append(RuntimeError("bug in the adapter"))
        message_id = await run.queue("+15550002222", "hi")
        await eventually(lambda: attempts_reach(run, message_id, 1))
        row = await run.delivery(message_id)
        assert row.status == "PENDING"
        assert row.next_attempt_at is not None and aware(row.next_attempt_at) > now() + timedelta(
            seconds=500
        )


async def test_a_failed_part_does_not_resend_the_parts_already_accepted(tmp_path: Path) -> None:
    text = " ".join(f"word{i}" for i in range(12))
    channel = fake_channel("sms", text_limit=30)
    async with running(tmp_path / "db.sqlite", channel, delays=(0.05,)) as run:
        script = run.script()
        script.errors.extend([None, BUSY])  # the first part goes through, the second fails once
        message_id = await run.queue("+15550002222", text)
        await eventually(lambda: status_is(run, message_id, "SENT"))
        assert [p.index for p in script.calls] == [0, 1, *range(1, len(script.sent))]
        assert [p.index for p in script.sent] == list(range(len(script.sent)))
        assert len(script.sent) >= 3
        assert (await run.delivery(message_id)).attempts == 1
