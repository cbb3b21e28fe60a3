"""Two nodes appending to the same conversations at once, in opposite orders, never fail a
request: where PostgreSQL has to end one node's transaction to resolve their lock conflict,
that node runs its group commit again instead of answering 500."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp

from adapters.twilio.fake import FakeTwilio
from tests.nodes.cluster import api, two_nodes
from tests.support import Daemon

CUSTOMERS = 10
ROUNDS = 15
#: bursts of sends; PostgreSQL does not find a deadlock in every one
BURSTS = 3


async def note(http: aiohttp.ClientSession, node: Daemon, conversation_id: str, text: str) -> int:
    """An internal note through `node`'s API (sendMessage, nothing leaves for a channel)."""
    body = {
        "conversationId": conversation_id,
        "message": {"content": {"basic": {"items": [{"text": text}]}}, "visibility": "BUSINESS"},
    }
    async with http.post(f"{node.url}/inbox/v2/messages", json=body, headers=node.auth) as r:
        await r.read()
        return r.status


async def test_two_nodes_appending_to_the_same_conversations_answer_every_request(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    async with two_nodes(postgres_url, tmp_path, twilio) as (a, b), aiohttp.ClientSession() as http:
        conversations = []
        for n in range(CUSTOMERS):
            phone = {"channelId": "sms", "address": f"+1555001{n:04d}"}
            contact = await api(
                http, a, "/contacts", {"displayName": f"C{n}", "identities": [phone]}
            )
            found = await api(
                http,
                a,
                "/conversations",
                {"participantId": {"contactId": contact["contact"]["id"]}},
            )
            conversations.append(found["conversation"]["id"])
        forward, backward = conversations, conversations[::-1]
        for burst in range(BURSTS):
            sends = [
                note(http, node, conversation, f"{label} {burst}.{r}")
                for r in range(ROUNDS)
                for node, label, order in ((a, "A", forward), (b, "B", backward))
                for conversation in order
            ]
            statuses = Counter(await asyncio.gather(*sends))
            assert statuses == {200: 2 * ROUNDS * CUSTOMERS}
        # every note is stored once, numbered without gaps in its conversation
        for conversation in conversations:
            async with http.get(
                f"{a.url}/inbox/v2/messages",
                params={
                    "conversationId": conversation,
                    "visibility": "BUSINESS",
                    "paging.limit": "100",
                },
                headers=a.auth,
            ) as r:
                listed = (await r.json())["messages"]
            assert len(listed) == BURSTS * 2 * ROUNDS
