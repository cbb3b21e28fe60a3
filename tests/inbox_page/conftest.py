"""A gateway with web chat, SMS and Messenger channels and one agent, for the inbox page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from channels import Direction, MessageContent, Participant, Visibility
from gateway.clock import now
from gateway.domain.messages import announce, append_message
from gateway.domain.participants import conversation_for
from gateway.state import GATEWAY, Gateway
from tests.support.config import Agent, GatewayConfig, offline_channels
from tests.support.databases import sqlite_url
from tests.support.live import DaemonTestServer, gateway_app

PASSWORD = "correct horse battery"
#: what the page sends with every request; a form on another site cannot add it
PAGE = {"X-Requested-With": "inbox"}


@dataclass
class Inbox:
    """A test client of the gateway, with helpers to log in and to store messages."""

    client: TestClient[web.Request, web.Application]
    app: web.Application

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY]

    async def login(self, username: str = "alice", password: str = PASSWORD) -> Any:
        response = await self.client.post(
            "/inbox/api/login", json={"username": username, "password": password}, headers=PAGE
        )
        return response

    async def get(self, path: str, status: int = 200) -> dict[str, Any]:
        response = await self.client.get(path, headers=PAGE)
        body = await response.json()
        assert response.status == status, body
        assert isinstance(body, dict)
        return body

    async def post(self, path: str, body: Any, status: int = 200) -> dict[str, Any]:
        response = await self.client.post(path, json=body, headers=PAGE)
        data = await response.json()
        assert response.status == status, data
        assert isinstance(data, dict)
        return data

    async def inbound(
        self,
        channel_id: str,
        address: str,
        text: str,
        *,
        name: str | None = None,
        at: datetime | None = None,
        anonymous: bool = False,
    ) -> str:
        """Store a participant's message as ingest would; answers the conversation id."""
        directory = self.gateway.directory

        def write(session: Any) -> str:
            conversation, _, _ = conversation_for(
                session, channel_id, Participant(address, name, anonymous=anonymous)
            )
            message = append_message(
                session,
                conversation,
                content=MessageContent.of_text(text).with_preview().wire(),
                sender=(conversation.participant_kind, conversation.participant_id),
                direction=Direction.PARTICIPANT_TO_BUSINESS,
                source_channel_id=channel_id,
                created_at=at or now(),
            )
            announce(session, message, None, directory)
            return conversation.id

        return await self.gateway.db.write(write)

    async def outbound(self, conversation_id: str, text: str, note: bool = False) -> None:
        """Store a business message (a reply, or an internal note) directly."""
        from gateway.domain.participants import resolve_conversation

        def write(session: Any) -> None:
            conversation = resolve_conversation(session, conversation_id)
            assert conversation is not None
            append_message(
                session,
                conversation,
                content=MessageContent.of_text(text).with_preview().wire(),
                sender=("appId", "crm"),
                direction=Direction.BUSINESS_TO_PARTICIPANT,
                visibility=Visibility.BUSINESS if note else Visibility.BUSINESS_AND_PARTICIPANT,
            )

        await self.gateway.db.write(write)


InboxFactory = Callable[..., Awaitable[Inbox]]


@pytest.fixture
def make_inbox(
    aiohttp_client: Callable[
        [web.Application], Awaitable[TestClient[web.Request, web.Application]]
    ],
    tmp_path: Path,
) -> InboxFactory:
    """Start a gateway; `human_agent_tag` turns on Messenger's 7-day agent window, and any
    other keyword changes that field of its `GatewayConfig`."""

    async def make(human_agent_tag: bool = False, **changes: Any) -> Inbox:
        config = GatewayConfig(
            database_url=sqlite_url(tmp_path),
            business_name="Test Shop",
            retry_delays=[600],
            agents=[Agent.with_password("alice", PASSWORD, display_name="Alice")],
            channels=offline_channels(human_agent_tag=human_agent_tag),
        ).with_(**changes)
        app = gateway_app(config)
        return Inbox(await aiohttp_client(DaemonTestServer(app)), app)

    return make


@pytest.fixture
async def inbox(make_inbox: InboxFactory) -> Inbox:
    return await make_inbox()


@pytest.fixture
async def agent(inbox: Inbox) -> Inbox:
    """The same gateway with alice logged in."""
    response = await inbox.login()
    assert response.status == 200
    return inbox
