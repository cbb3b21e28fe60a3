"""A running gateway limits web chat sessions per client address, and forgets visitors who
never wrote."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
from sqlmodel import Session, col, func, select

from gateway.clock import now
from gateway.domain.participants import VISITOR
from gateway.store.models import ConversationRow, IdentityRow
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import webchat_channel
from tests.support.polling import eventually

SITE = "https://shop.example.com"


async def open_session(
    http: aiohttp.ClientSession, live: LiveGateway, body: Any = None, **headers: str
) -> tuple[int, dict[str, Any]]:
    async with http.post(
        f"{live.url}/channels/chat/sessions",
        json=body if body is not None else {},
        headers={"Origin": SITE, **headers},
    ) as response:
        return response.status, await response.json()


async def visitor_conversations(live: LiveGateway) -> int:
    def count(session: Session) -> int:
        query = select(func.count()).where(ConversationRow.participant_kind == VISITOR)
        return int(session.exec(query).one())

    return await live.gateway.db.read(count)


async def test_five_hundred_sessions_at_once_from_one_address_create_sixty(
    start_gateway: StartGateway,
) -> None:
    live = await start_gateway(webchat_channel(allowed_origins=[SITE]))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as http:
        answers = await asyncio.gather(*(open_session(http, live) for _ in range(500)))
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == 60
    assert statuses.count(429) == 440
    assert await visitor_conversations(live) == 60


async def test_ipv6_clients_are_counted_by_their_64_behind_a_trusted_proxy(
    start_gateway: StartGateway,
) -> None:
    live = await start_gateway(
        webchat_channel(allowed_origins=[SITE]), trusted_proxies=["127.0.0.1"]
    )
    async with aiohttp.ClientSession() as http:
        same_64 = [
            await open_session(http, live, **{"X-Forwarded-For": f"2001:db8:1:2::{i:x}"})
            for i in range(1, 62)
        ]
        other_64 = await open_session(http, live, **{"X-Forwarded-For": "2001:db8:1:3::1"})
    assert [status for status, _ in same_64] == [200] * 60 + [429]
    assert other_64[0] == 200


async def test_visitors_who_never_wrote_are_forgotten_after_a_day(
    start_gateway: StartGateway,
) -> None:
    live = await start_gateway(webchat_channel(allowed_origins=[SITE]))
    async with aiohttp.ClientSession() as http:
        _, silent = await open_session(http, live)
        _, talker = await open_session(http, live)
        async with http.ws_connect(
            f"{live.url}/channels/chat/ws?token={talker['token']}", headers={"Origin": SITE}
        ) as ws:
            frame = {
                "type": "message",
                "clientMessageId": "c1",
                "content": {"basic": {"items": [{"text": "Do you ship to Norway?"}]}},
            }
            await ws.send_json(frame)
            while (await ws.receive_json(timeout=5))["type"] != "ack":
                pass

        def backdate(session: Session) -> None:
            for row in session.exec(select(ConversationRow)):
                row.created_at = now() - timedelta(days=2)

        await live.gateway.db.write(backdate)
        _, recent = await open_session(http, live)  # a new visitor's session sweeps

        def ids(session: Session) -> set[str]:
            return set(session.exec(select(col(ConversationRow.id))))

        left = await live.gateway.db.read(ids)
        assert left == {talker["conversationId"], recent["conversationId"]}

        def identity_of(session: Session) -> IdentityRow | None:
            return session.exec(
                select(IdentityRow).where(IdentityRow.address == silent["anonymousVisitorId"])
            ).first()

        assert await live.gateway.db.read(identity_of) is None
        # coming back with their token, the silent visitor simply gets a conversation again
        status, back = await open_session(http, live, {"token": silent["token"]})
        assert status == 200
        assert back["anonymousVisitorId"] == silent["anonymousVisitorId"]


async def test_a_token_opens_twenty_sockets_and_no_more(start_gateway: StartGateway) -> None:
    live = await start_gateway(webchat_channel(allowed_origins=[SITE]))
    async with aiohttp.ClientSession() as http:
        _, visitor = await open_session(http, live)
        url = f"{live.url}/channels/chat/ws?token={visitor['token']}"
        sockets = [await http.ws_connect(url, headers={"Origin": SITE}) for _ in range(25)]
        served, refused = 0, 0
        for ws in sockets:
            await ws.send_json({"type": "sync", "afterSequence": "0"})
            frame = await ws.receive_json(timeout=5)
            if frame["type"] == "history":
                served += 1
            else:
                assert frame["code"] == "TOO_MANY_SOCKETS"
                await ws.receive(timeout=5)
                assert ws.close_code == 4429
                refused += 1
        assert (served, refused) == (20, 5)
        for ws in sockets:
            await ws.close()

        # the places are given back once the tabs have closed
        async def served_again() -> bool:
            async with http.ws_connect(url, headers={"Origin": SITE}) as ws:
                await ws.send_json({"type": "sync", "afterSequence": "0"})
                return bool((await ws.receive_json(timeout=5))["type"] == "history")

        assert await eventually(served_again)
