"""A visitor's socket follows their conversation from the moment it is open: a reply stored
right after the handshake reaches it, even before the visitor asks for history (`sync`).

On PostgreSQL, opening a socket holds places in the shared limits (writes to the database);
a reply committed meanwhile must not slip past the socket that is about to follow it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from adapters.twilio.fake import FakeTwilio
from tests.nodes.cluster import reply, two_nodes, visitor

VISITORS = 8


async def test_a_reply_stored_as_the_socket_opens_reaches_the_visitor(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    async with two_nodes(postgres_url, tmp_path, twilio) as (a, b), aiohttp.ClientSession() as http:
        for n in range(VISITORS):
            node, other = (a, b) if n % 2 else (b, a)
            chat = await visitor(http, node)
            # through the visitor's node and through the other one, at once
            text = f"Welcome ({n})"
            await asyncio.gather(
                reply(http, node, chat.conversation_id, f"{text} here"),
                reply(http, other, chat.conversation_id, f"{text} there"),
            )
            received = {await chat.next_from_business(), await chat.next_from_business()}
            assert received == {f"{text} here", f"{text} there"}
            await chat.socket.close()
