"""Provider and subscriber outages: everything goes out once they are back, on schedule."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from adapters.twilio.fake import FakeTwilio
from gateway.background import Options
from gateway.backoff import Schedule
from gateway.clock import aware, now
from gateway.plugins.registry import installed_adapters
from gateway.store.models import EventRow
from tests.dispatch.harness import Running, fixed_jitter, running
from tests.support.config import Channel, twilio_channel
from tests.support.polling import eventually
from tests.webhooks.subscriber import subscriber

DELAYS = (0.2, 0.4, 0.8, 0.8, 0.8)


def sms_channel(fake: FakeTwilio) -> Channel:
    return twilio_channel(fake=fake, rate_per_second=100)


def adapters() -> dict[str, type[Any]]:
    return installed_adapters()


async def status_is(run: Running, message_id: str, status: str) -> bool:
    return (await run.delivery(message_id)).status == status


async def test_a_provider_outage_delays_messages_without_a_tight_loop(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    twilio.fail_next(status=503, times=3)
    async with running(
        tmp_path / "db.sqlite", sms_channel(twilio), delays=DELAYS, adapters=adapters()
    ) as run:
        message_id = await run.queue("+15550002222", "after the outage")
        await eventually(lambda: status_is(run, message_id, "SENT"))
        row = await run.delivery(message_id)
        assert row.attempts == 3
        assert len(twilio.requests) == 4  # three refusals, one success, nothing more
        assert [m["Body"] for m in twilio.sent] == ["after the outage"]
        assert row.provider_message_ids == [twilio.sent[0]["sid"]]


async def test_many_messages_queued_during_an_outage_all_go_out(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    twilio.fail_next(status=500, times=12)
    async with running(
        tmp_path / "db.sqlite", sms_channel(twilio), delays=DELAYS, adapters=adapters()
    ) as run:
        ids = [await run.queue(f"+1555000{i:04d}", f"message {i}") for i in range(8)]
        for message_id in ids:
            await eventually(lambda m=message_id: status_is(run, m, "SENT"), 20)  # type: ignore[misc]
        assert sorted(m["Body"] for m in twilio.sent) == sorted(f"message {i}" for i in range(8))
        # each message was tried at most once per scheduled delay, plus its first try
        assert len(twilio.requests) <= len(ids) * (len(DELAYS) + 1)


async def test_more_messages_refused_than_retries_timed_ahead_all_go_out_once(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    """A node sets a timer for at most four retries a worker plus sixteen (here 20); in a
    longer outage the looks for due deliveries find the rest: 30 refused at once all go out,
    none lost, none sent twice."""
    count = 30
    twilio.fail_next(status=503, times=count)
    async with running(
        tmp_path / "db.sqlite",
        sms_channel(twilio),
        delays=(1.0, *DELAYS),  # every first try is refused before the first retry is due
        workers=1,
        adapters=adapters(),
    ) as run:
        ids = [await run.queue(f"+1555100{i:04d}", f"message {i}") for i in range(count)]
        for message_id in ids:
            await eventually(lambda m=message_id: status_is(run, m, "SENT"), 20)  # type: ignore[misc]
        expected = sorted(f"message {i}" for i in range(count))
        assert sorted(m["Body"] for m in twilio.sent) == expected
        assert len(twilio.requests) == 2 * count  # every refusal, then each message once


async def test_too_many_requests_waits_as_long_as_retry_after_asks(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    twilio.fail_next(status=429, retry_after=1.5)
    async with running(
        tmp_path / "db.sqlite", sms_channel(twilio), delays=(0.05,), adapters=adapters()
    ) as run:
        before = now()
        message_id = await run.queue("+15550002222", "patience")

        async def retry_scheduled() -> bool:
            row = await run.delivery(message_id)
            return row.attempts == 1 and row.next_attempt_at is not None

        await eventually(retry_scheduled)
        row = await run.delivery(message_id)
        assert row.next_attempt_at is not None
        assert aware(row.next_attempt_at) >= before + timedelta(seconds=1.5)
        await eventually(lambda: status_is(run, message_id, "SENT"))
        assert len(twilio.requests) == 2


async def test_a_subscriber_down_for_a_while_gets_everything_once_back(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    options = Options(
        webhook_schedule=Schedule((0.1, 0.2, 0.4), 0.4, timedelta(hours=24)),
        uniform=fixed_jitter,
        sweep_seconds=0.1,
    )
    async with (
        subscriber(statuses=[503] * 6) as sub,
        running(
            tmp_path / "db.sqlite",
            sms_channel(twilio),
            webhooks=[sub.webhook(["message_sent_to_business"])],
            options=options,
            adapters=adapters(),
        ) as run,
    ):
        for i in range(5):
            reply = await twilio.post_inbound(
                run.url + "/channels/sms/inbound", f"+1555000{i:04d}", f"question {i}"
            )
            assert reply.status == 200
        await eventually(lambda: len(sub.accepted) == 5, 20)
        events = await run.read(
            lambda s: list(
                s.exec(select(EventRow).where(EventRow.slug == "message_sent_to_business"))
            )
        )
        assert sub.ids() == [e.id for e in sorted(events, key=lambda e: e.seq or 0)]
        texts = [
            b["actionEvent"]["body"]["message"]["content"]["basic"]["items"][0]["text"]
            for b in sub.accepted
        ]
        assert texts == [f"question {i}" for i in range(5)]
        assert sub.all_signed()
