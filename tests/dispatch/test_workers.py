"""The dispatcher's workers, and the due deliveries it claims ahead of a free one."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import Session, col, select

from channels import Participant
from gateway.background import Options
from gateway.clock import aware
from gateway.domain.participants import conversation_for
from gateway.outbound.dispatcher import LEASE
from gateway.store.models import MessageRow
from tests.dispatch.harness import Running, fixed_jitter, running
from tests.support.polling import eventually


async def test_no_more_sends_are_in_the_providers_hands_than_there_are_workers(
    tmp_path: Path,
) -> None:
    async with running(tmp_path / "db.sqlite", workers=2) as run:
        script = run.script()
        script.gate = asyncio.Event()  # the provider holds every send until released
        ids = [await run.queue(f"+1555000{n:04d}", f"message {n}") for n in range(6)]
        await eventually(lambda: len(script.calls) == 2)
        # deliveries claimed ahead wait for a worker; they do not go out beside the two
        await asyncio.sleep(0.5)
        assert len(script.calls) == 2
        script.gate.set()
        await eventually(lambda: len(script.sent) == 6)
        assert Counter(p.message_id for p in script.sent) == Counter(ids)


async def test_a_delivery_claimed_ahead_lets_go_of_its_claim_before_the_lease_could_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its send must end within the lease: one that waited long for a worker is let go (for
    another round, or another node, to claim afresh) instead of being sent on a stale claim."""
    # a claim ahead may wait (6 s lease - 4 s send timeout) / 2 = 1 s for a worker
    options = Options(
        uniform=fixed_jitter, sweep_seconds=0.2, lease=timedelta(seconds=6), send_timeout=4.0
    )
    caplog.set_level(logging.INFO, logger="gateway.outbound.dispatcher")
    async with running(tmp_path / "db.sqlite", workers=1, options=options) as run:
        script = run.script()
        script.gate = asyncio.Event()
        first = await run.queue("+15550001000", "first")
        await eventually(lambda: len(script.calls) == 1)
        second = await run.queue("+15550002000", "second")

        async def claimed() -> bool:
            return (await run.delivery(second)).claimed_until is not None

        # the one worker is busy, yet the second delivery is claimed, ready for it
        await eventually(claimed)
        await eventually(lambda: f"message {second} waited too long" in caplog.text)
        script.gate.set()
        await eventually(lambda: len(script.sent) == 2)
        assert [p.message_id for p in script.sent] == [first, second]
        assert len(script.calls) == 2  # each went to the provider once


TOKEN = "dispatch-test-token-0123456789"


async def _conversation(run: Running, address: str) -> str:
    def write(session: Session) -> str:
        conversation, _, _ = conversation_for(session, "sms", Participant(address))
        return conversation.id

    return await run.gateway.db.write(write)


async def _send(http: aiohttp.ClientSession, run: Running, conversation_id: str, text: str) -> str:
    body = {
        "conversationId": conversation_id,
        "message": {
            "content": {"basic": {"items": [{"text": text}]}},
            "targetChannelIds": ["sms"],
        },
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with http.post(f"{run.url}/inbox/v2/messages", json=body, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        return str((await answer.json())["message"]["id"])


async def test_a_message_sent_while_a_worker_is_free_is_claimed_as_it_is_stored(
    tmp_path: Path,
) -> None:
    """The free worker takes it from the write that stored it: the claim's lease runs from
    the moment the message was written, not from a later look at the due deliveries."""
    async with (
        running(tmp_path / "db.sqlite", tokens={"crm": TOKEN}) as run,
        aiohttp.ClientSession() as http,
    ):
        script = run.script()
        script.gate = asyncio.Event()
        message_id = await _send(http, run, await _conversation(run, "+15550001000"), "hi")
        await eventually(lambda: len(script.calls) == 1)
        delivery = await run.delivery(message_id)
        assert delivery.claimed_until is not None
        assert aware(delivery.claimed_until) == aware(delivery.updated_at) + LEASE
        script.gate.set()
        await eventually(lambda: len(script.sent) == 1)
        assert (await run.delivery(message_id)).status == "SENT"


async def test_messages_sent_at_once_to_one_person_go_out_one_at_a_time_in_order(
    tmp_path: Path,
) -> None:
    async with (
        running(tmp_path / "db.sqlite", workers=8, tokens={"crm": TOKEN}) as run,
        aiohttp.ClientSession() as http,
    ):
        script = run.script()
        script.gate = asyncio.Event()
        conversation_id = await _conversation(run, "+15550001000")
        # before and while the first is with the provider, in one group commit or several
        ids = list(
            await asyncio.gather(*(_send(http, run, conversation_id, f"m{n}") for n in range(6)))
        )
        await eventually(lambda: len(script.calls) == 1)
        ids += [await _send(http, run, conversation_id, f"m{n}") for n in range(6, 8)]
        await asyncio.sleep(0.3)
        assert len(script.calls) == 1, "one message to a person with the provider at a time"
        script.gate.set()
        await eventually(lambda: len(script.sent) == 8)
        sequence = await run.read(
            lambda s: {
                row.id: row.sequence
                for row in s.exec(select(MessageRow).where(col(MessageRow.id).in_(ids)))
            }
        )
        assert [p.message_id for p in script.sent] == sorted(ids, key=sequence.__getitem__)
