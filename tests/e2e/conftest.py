"""A live gateway with the loopback Twilio and Graph fakes, and a small REST API client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from aiohttp import ClientSession
from sqlmodel import Session, col, select

from adapters.messenger.fake import FakeGraph
from adapters.twilio.fake import FakeTwilio
from gateway.store.models import EventRow, MessageRow
from tests.gateway import conftest as live
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import messenger_channel, twilio_channel
from tests.support.polling import eventually

# the live-gateway fixture (a SQLite file, and PostgreSQL in the postgres run)
start_gateway = live.start_gateway

T = TypeVar("T")

CUSTOMER_PHONE = "+15557654321"
PSID = "psid-e2e-1"


@dataclass
class Api:
    """The REST API of one live gateway, as a CRM would call it."""

    live: LiveGateway
    http: ClientSession

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        url = f"{self.live.url}/inbox/v2{path}"
        async with self.http.request(method, url, headers=self.live.auth, **kwargs) as response:
            return response.status, await response.json()

    async def send(
        self, conversation_id: str, content: dict[str, Any], **message: Any
    ) -> tuple[int, dict[str, Any]]:
        """sendMessage with this content; answers (HTTP status, body)."""
        body = {"conversationId": conversation_id, "message": {"content": content, **message}}
        return await self.call("POST", "/messages", json=body)

    async def send_ok(self, conversation_id: str, content: dict[str, Any]) -> dict[str, Any]:
        """sendMessage that must be accepted; answers the stored message."""
        status, body = await self.send(conversation_id, content)
        assert status == 200, body
        message: dict[str, Any] = body["message"]
        assert message["delivery"]["status"] == "PENDING"
        return message

    async def message(self, message_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/messages/{message_id}")
        assert status == 200, body
        message: dict[str, Any] = body["message"]
        return message

    async def messages(self, conversation_id: str, visibility: str) -> list[dict[str, Any]]:
        """Every message of a conversation, oldest first."""
        params = {
            "conversationId": conversation_id,
            "visibility": visibility,
            "sorting.order": "ASC",
            "paging.limit": "100",
        }
        status, body = await self.call("GET", "/messages", params=params)
        assert status == 200, body
        messages: list[dict[str, Any]] = body["messages"]
        return messages

    async def only_conversation(self) -> dict[str, Any]:
        status, body = await self.call("GET", "/conversations")
        assert status == 200, body
        [conversation] = body["conversations"]
        result: dict[str, Any] = conversation
        return result

    async def contact(self, contact_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/contacts/{contact_id}")
        assert status == 200, body
        contact: dict[str, Any] = body["contact"]
        return contact

    async def delivery_status(
        self, message_id: str, wanted: str, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Wait until the message's delivery reaches `wanted`; answers the message."""

        async def reached() -> dict[str, Any] | None:
            message = await self.message(message_id)
            return message if message["delivery"]["status"] == wanted else None

        result: dict[str, Any] = await eventually(reached, timeout)
        return result

    async def read(self, fn: Callable[[Session], T]) -> T:
        return await self.live.gateway.db.read(fn)

    async def events(self, slug: str) -> list[dict[str, Any]]:
        """Bodies of the outbox events of one kind, oldest first."""

        def read(session: Session) -> list[dict[str, Any]]:
            query = select(EventRow).where(EventRow.slug == slug).order_by(col(EventRow.seq))
            rows = session.exec(query)
            return [dict(row.body) for row in rows]

        return await self.read(read)

    async def stored_count(self) -> int:
        def read(session: Session) -> int:
            return len(list(session.exec(select(MessageRow.id))))

        return await self.read(read)


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


@pytest.fixture
async def sms_api(start_gateway: StartGateway, twilio: FakeTwilio, http: ClientSession) -> Api:
    """A gateway with one Twilio channel `sms` pointed at the fake."""
    # Pacing is the dispatcher's business, tested elsewhere: here it would only slow long SMS.
    live = await start_gateway(twilio_channel(fake=twilio, rate_per_second=100))
    return Api(live, http)


async def messenger_api(
    start_gateway: StartGateway, graph: FakeGraph, http: ClientSession, *, human_agent_tag: bool
) -> Api:
    """A gateway with one Messenger channel `facebook` pointed at the fake."""
    table = messenger_channel("facebook", fake=graph, human_agent_tag=human_agent_tag)
    return Api(await start_gateway(table), http)


@pytest.fixture
async def fb_api(start_gateway: StartGateway, graph: FakeGraph, http: ClientSession) -> Api:
    return await messenger_api(start_gateway, graph, http, human_agent_tag=False)


@pytest.fixture
async def fb_agent_api(start_gateway: StartGateway, graph: FakeGraph, http: ClientSession) -> Api:
    return await messenger_api(start_gateway, graph, http, human_agent_tag=True)
