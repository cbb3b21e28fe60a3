"""A gateway with three channels (web chat, SMS, Messenger), for the API: on a temp SQLite
file, and (in the PostgreSQL run) on a fresh PostgreSQL database (`database_url`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import Session, func, select

from channels import Direction, MessageContent
from gateway.clock import now
from gateway.domain.messages import append_message
from gateway.domain.participants import resolve_conversation
from gateway.state import GATEWAY, Gateway
from tests.support.config import GatewayConfig, offline_channels
from tests.support.live import DaemonTestServer, gateway_app

TOKEN = "api-test-token-0123456789"
OTHER_TOKEN = "api-other-token-987654321"


def api_config(database_url: str) -> GatewayConfig:
    """Two API clients, and the three channels with providers that are never reached: the
    first retry is far beyond any test, so deliveries stay PENDING while a test looks."""
    return GatewayConfig(
        database_url=database_url,
        business_name="Test Shop",
        max_body_bytes=65536,
        tokens={"crm": TOKEN, "shop": OTHER_TOKEN},
        retry_delays=[600],
        channels=offline_channels(human_agent_tag=True),
    )


@dataclass
class Api:
    """The test client plus helpers to look at (and prepare) what the gateway stored."""

    client: TestClient[web.Request, web.Application]
    app: web.Application

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    async def call(
        self, method: str, path: str, *, status: int = 200, **kwargs: Any
    ) -> dict[str, Any]:
        """Call with the token; assert the status; the JSON body."""
        headers = {**self.auth, **kwargs.pop("headers", {})}
        response = await self.client.request(method, path, headers=headers, **kwargs)
        body = await response.json()
        assert response.status == status, body
        assert isinstance(body, dict)
        return body

    async def post_raw(self, path: str, body: bytes | str) -> tuple[int, dict[str, Any]]:
        """POST a body as given (not JSON-encoded by the client), with the token; the status
        and the JSON answer."""
        headers = {**self.auth, "Content-Type": "application/json"}
        response = await self.client.post(path, data=body, headers=headers)
        answer = await response.json()
        assert isinstance(answer, dict)
        return response.status, answer

    async def count(self, model: type[Any]) -> int:
        return await self.gateway.db.read(
            lambda s: int(s.exec(select(func.count()).select_from(model)).one())
        )

    async def contact(self, *identities: tuple[str, str], name: str = "Ann") -> dict[str, Any]:
        body = {
            "displayName": name,
            "identities": [{"channelId": c, "address": a} for c, a in identities],
        }
        return dict((await self.call("POST", "/inbox/v2/contacts", json=body))["contact"])

    async def conversation_of(self, contact_id: str) -> dict[str, Any]:
        body = {"participantId": {"contactId": contact_id}}
        answer = await self.call("POST", "/inbox/v2/conversations", json=body)
        return dict(answer["conversation"])

    async def send(self, conversation_id: str, text: str, **message: Any) -> dict[str, Any]:
        body = {
            "conversationId": conversation_id,
            "message": {"content": {"basic": {"items": [{"text": text}]}}, **message},
        }
        return dict((await self.call("POST", "/inbox/v2/messages", json=body))["message"])

    async def inbound(
        self, conversation_id: str, channel_id: str, text: str, at: datetime | None = None
    ) -> None:
        """Store a message from the participant, as if it came in on `channel_id` at `at`."""

        def write(session: Session) -> None:
            conversation = resolve_conversation(session, conversation_id)
            assert conversation is not None
            append_message(
                session,
                conversation,
                content=MessageContent.of_text(text).with_preview().wire(),
                sender=(conversation.participant_kind, conversation.participant_id),
                direction=Direction.PARTICIPANT_TO_BUSINESS,
                source_channel_id=channel_id,
                created_at=at or now(),
            )

        await self.gateway.db.write(write)


ApiFactory = Callable[[], Awaitable[Api]]


@pytest.fixture
async def api(
    aiohttp_client: Callable[
        [web.Application], Awaitable[TestClient[web.Request, web.Application]]
    ],
    database_url: str,
) -> Api:
    """The running gateway's API client (one fresh database per test, on each backend)."""
    app = gateway_app(api_config(database_url))
    client = await aiohttp_client(DaemonTestServer(app))
    return Api(client, app)


def hours_ago(hours: float) -> datetime:
    return now() - timedelta(hours=hours)
