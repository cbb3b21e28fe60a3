"""Two nodes on one PostgreSQL wake each other with LISTEN/NOTIFY: what is stored through one
reaches the sockets held by the other while the fallback poll is a minute away."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import psycopg

from adapters.twilio.fake import FakeTwilio
from gateway.events.wakeups import APPLICATION_NAME
from tests.nodes.cluster import (
    ROUNDS,
    agent_page,
    next_json,
    reply,
    text_of,
    two_nodes,
    visitor,
)
from tests.support import eventually


async def test_an_agents_reply_through_node_a_reaches_a_visitor_on_node_b(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    async with two_nodes(postgres_url, tmp_path, twilio) as (a, b), aiohttp.ClientSession() as http:
        chat = await visitor(http, b)
        for n in range(ROUNDS):
            text = f"Your order has shipped ({n})"
            await reply(http, a, chat.conversation_id, text)
            assert await chat.next_from_business() == text
        await chat.socket.close()


async def test_an_sms_through_node_b_reaches_an_agents_page_on_node_a(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # the nodes answer at 127.0.0.1
    async with (
        two_nodes(postgres_url, tmp_path, twilio) as (a, b),
        aiohttp.ClientSession(cookie_jar=jar) as http,
    ):
        inbox = await agent_page(http, a)
        for n in range(ROUNDS):
            text = f"Is the shop open on Sunday? ({n})"
            answer = await twilio.post_inbound(
                f"{b.url}/channels/sms/inbound", "+15550007777", text
            )
            assert answer.status == 200
            event = await next_json(inbox, lambda f: f.get("slug") == "message_sent_to_business")
            assert text_of(event["actionEvent"]["body"]["message"]) == text
        await inbox.close()


def listening(server_url: str, database: str, terminate: bool = False) -> int:
    """How many nodes LISTEN on `database` (after ending their connections, if `terminate`)."""
    query = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
    with psycopg.connect(server_url, autocommit=True) as admin:
        pids = [row[0] for row in admin.execute(query, (database, APPLICATION_NAME))]
        if terminate:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return len(pids)


async def test_a_node_whose_listening_connection_dropped_listens_again(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        two_nodes(postgres_url, tmp_path, twilio) as (a, b),
        aiohttp.ClientSession(cookie_jar=jar) as http,
    ):
        database = a.config.database_url.rsplit("/", 1)[1]
        await eventually(lambda: listening(postgres_url, database) == 2)
        assert listening(postgres_url, database, terminate=True) == 2
        await eventually(lambda: listening(postgres_url, database) == 2)
        inbox = await agent_page(http, a)
        for n in range(ROUNDS):
            text = f"Still there? ({n})"
            answer = await twilio.post_inbound(
                f"{b.url}/channels/sms/inbound", "+15550007777", text
            )
            assert answer.status == 200
            event = await next_json(inbox, lambda f: f.get("slug") == "message_sent_to_business")
            assert text_of(event["actionEvent"]["body"]["message"]) == text
        await inbox.close()
        assert "not listening for other nodes' events" in a.log.read_text()
