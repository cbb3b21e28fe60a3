"""SIGTERM while an SMS is with the provider: it finishes within the grace, and is never sent
twice because of the restart; one the provider has not answered when the grace ends keeps its
claim, so the restarted daemon does not send it again at once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import Session

from adapters.twilio.fake import FakeTwilio
from gateway.clock import aware, now
from gateway.store.database import create_db_engine
from gateway.store.models import DeliveryRow
from tests.support.config import TOKEN, GatewayConfig, twilio_channel
from tests.support.daemon import Daemon
from tests.support.polling import eventually

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CUSTOMER = "+15550002001"
OTHER_CUSTOMER = "+15550002002"


class SlowTwilio(FakeTwilio):
    """The Twilio fake, holding every create until the test lets the answers go."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.held = 0

    async def _create(self, request: web.Request) -> web.Response:
        await request.read()  # the request has arrived whole, even if the client goes away
        self.held += 1
        await self.answer.wait()
        return await super()._create(request)


@pytest.fixture
async def twilio() -> Any:
    fake = SlowTwilio()
    await fake.start()
    try:
        yield fake
    finally:
        fake.answer.set()
        await fake.stop()


class Shop:
    """A daemon with an SMS channel on the slow fake, and the API calls a CRM makes."""

    def __init__(self, folder: Path, database_url: str, twilio: FakeTwilio, grace: float) -> None:
        self.database_url = database_url
        config = GatewayConfig(
            database_url=database_url,
            business_name=None,
            shutdown_grace=grace,
            tokens={"crm": TOKEN},
            retry_delays=[1, 1, 1],
            workers=4,
            channels=[twilio_channel(fake=twilio, rate_per_second=50)],
        )
        self.daemon = Daemon(folder, config)
        self.base = self.daemon.url

    async def conversation(self, number: str) -> str:
        async with aiohttp.ClientSession() as http:
            contact = await self._post(
                http,
                "/inbox/v2/contacts",
                {"displayName": number, "identities": [{"channelId": "sms", "address": number}]},
            )
            conversation = await self._post(
                http,
                "/inbox/v2/conversations",
                {"participantId": {"contactId": contact["contact"]["id"]}},
            )
        return str(conversation["conversation"]["id"])

    async def send(self, conversation_id: str, text: str) -> str:
        async with aiohttp.ClientSession() as http:
            body = {
                "conversationId": conversation_id,
                "message": {"content": {"basic": {"items": [{"text": text}]}}},
            }
            sent = await self._post(http, "/inbox/v2/messages", body)
        return str(sent["message"]["id"])

    async def _post(
        self, http: aiohttp.ClientSession, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        async with http.post(self.base + path, json=body, headers=AUTH) as response:
            data = await response.json()
            assert response.status == 200, data
            assert isinstance(data, dict)
            return data

    def delivery(self, message_id: str) -> DeliveryRow:
        engine = create_db_engine(self.database_url)
        try:
            with Session(engine) as session:
                row = session.get(DeliveryRow, message_id)
                assert row is not None
                return row
        finally:
            engine.dispose()

    async def terminate(self) -> None:
        """SIGTERM, as systemd or a container runtime stops the daemon."""
        assert self.daemon.process is not None
        self.daemon.process.send_signal(signal.SIGTERM)

    async def exited(self) -> int:
        process = self.daemon.process
        assert process is not None
        code = await asyncio.wait_for(process.wait(), 30)
        self.daemon.process = None
        return code

    def log(self) -> str:
        return self.daemon.log.read_text()


@pytest.fixture
async def shops(tmp_path: Path, database_url: str) -> Any:
    made: list[Shop] = []

    def make(twilio: FakeTwilio, grace: float) -> Shop:
        shop = Shop(tmp_path, database_url, twilio, grace)
        made.append(shop)
        return shop

    try:
        yield make
    finally:
        for shop in made:
            await shop.daemon.kill()


async def until(check: Callable[[], bool]) -> None:
    """Wait (30 s at most) until `check()` holds."""
    await eventually(check, timeout=30)


def bodies(twilio: FakeTwilio) -> list[str]:
    return [str(m.get("Body", "")) for m in twilio.sent]


async def test_a_send_in_flight_at_sigterm_finishes_within_the_grace_and_is_sent_once(
    shops: Callable[[FakeTwilio, float], Shop], twilio: SlowTwilio
) -> None:
    shop = shops(twilio, 30)
    await shop.daemon.start()
    conversation = await shop.conversation(CUSTOMER)
    first = await shop.send(conversation, "Your order has shipped")
    await until(lambda: twilio.held == 1)

    await shop.terminate()
    # The provider answers only once the daemon is stopping (or, if it dropped the send, gone).
    process = shop.daemon.process
    assert process is not None
    await until(lambda: process.returncode is not None or "sends in flight" in shop.log())
    twilio.answer.set()
    assert await shop.exited() == 0

    delivery = shop.delivery(first)
    assert delivery.status == "SENT"
    assert delivery.claimed_until is None

    await shop.daemon.start()
    await shop.send(conversation, "It arrives tomorrow")
    # one message in flight per customer, oldest first: had the first been left PENDING, it
    # would go out again before this one
    await until(lambda: len(twilio.sent) >= 2)
    assert bodies(twilio) == ["Your order has shipped", "It arrives tomorrow"]


async def test_a_send_unanswered_when_the_grace_ends_keeps_its_claim_across_a_restart(
    shops: Callable[[FakeTwilio, float], Shop], twilio: SlowTwilio
) -> None:
    shop = shops(twilio, 0.5)
    await shop.daemon.start()
    conversation = await shop.conversation(CUSTOMER)
    other = await shop.conversation(OTHER_CUSTOMER)
    first = await shop.send(conversation, "Your order has shipped")
    await until(lambda: twilio.held == 1)

    await shop.terminate()
    assert await shop.exited() == 0
    kept = shop.delivery(first)
    assert kept.status == "PENDING"
    assert kept.claimed_until is not None
    lease_end: datetime = aware(kept.claimed_until)
    assert lease_end > now()
    # the provider took it after all, but the daemon never heard
    twilio.answer.set()
    await until(lambda: bodies(twilio) == ["Your order has shipped"])

    await shop.daemon.start()
    witness = await shop.send(other, "Hello from the shop")
    await until(lambda: "Hello from the shop" in bodies(twilio))
    await until(lambda: shop.delivery(witness).status == "SENT")
    # The restarted daemon has claimed what was due (the other customer's message) and left
    # the first alone: still PENDING under the same claim, until the lease ends.
    after = shop.delivery(first)
    assert after.status == "PENDING"
    assert after.claimed_until is not None and aware(after.claimed_until) == lease_end
    assert after.next_attempt_at is not None and aware(after.next_attempt_at) >= lease_end
    assert bodies(twilio).count("Your order has shipped") == 1
