"""A contact merged through one node is merged for every node: a visitor connected to node B
keeps getting replies after node A merged their conversation into another."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from adapters.twilio.fake import FakeTwilio
from tests.nodes.cluster import ROUNDS, api, reply, two_nodes, visitor
from tests.support import Daemon


async def test_a_visitor_on_node_b_gets_replies_to_the_conversation_node_a_merged_into(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    async with two_nodes(postgres_url, tmp_path, twilio) as (a, b), aiohttp.ClientSession() as http:
        ada = await visitor(http, b, user_id="user-ada")
        await reply(http, a, ada.conversation_id, "Hello Ada")
        assert await ada.next_from_business() == "Hello Ada"
        # the agent finds that Ada also texts from her phone: her two contacts become one
        phone = {"channelId": "sms", "address": "+15550009001"}
        kept = await api(http, a, "/contacts", {"displayName": "Ada", "identities": [phone]})
        kept_id = kept["contact"]["id"]
        await api(
            http, a, f"/contacts/{kept_id}/merge", {"sourceContactIds": [ada.session["contactId"]]}
        )
        merged = await api(http, a, "/conversations", {"participantId": {"contactId": kept_id}})
        target = merged["conversation"]["id"]
        assert target != ada.conversation_id
        await reply(http, a, target, "Your parcel left this morning")
        assert await ada.next_from_business() == "Your parcel left this morning"
        await ada.socket.close()


async def get(http: aiohttp.ClientSession, node: Daemon, path: str) -> dict[str, Any]:
    async with http.get(f"{node.url}/inbox/v2{path}", headers=node.auth) as r:
        answer: dict[str, Any] = await r.json()
        assert r.status == 200, answer
        return answer


async def test_two_contacts_merged_into_each_other_through_two_nodes_at_once_become_one(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    """One merge goes first; the other then finds the two already one, as it would if asked
    after it: both answer that contact, and its conversation takes replies."""
    async with two_nodes(postgres_url, tmp_path, twilio) as (a, b), aiohttp.ClientSession() as http:
        for round_ in range(ROUNDS):
            people = []
            for n in range(2):
                phone = {"channelId": "sms", "address": f"+1555001{round_:02d}{n:02d}"}
                contact = await api(http, a, "/contacts", {"identities": [phone]})
                contact_id = contact["contact"]["id"]
                started = await api(
                    http, a, "/conversations", {"participantId": {"contactId": contact_id}}
                )
                people.append((contact_id, started["conversation"]["id"]))
            (first, first_conversation), (second, second_conversation) = people
            answers = await asyncio.gather(
                api(http, a, f"/contacts/{first}/merge", {"sourceContactIds": [second]}),
                api(http, b, f"/contacts/{second}/merge", {"sourceContactIds": [first]}),
            )
            merged = {answer["contact"]["id"] for answer in answers}
            assert len(merged) == 1
            for contact_id in (first, second):
                contact = (await get(http, b, f"/contacts/{contact_id}"))["contact"]
                assert contact["id"] in merged
                assert len(contact["identities"]) == 2
            conversations = {
                (await get(http, a, f"/conversations/{c}"))["conversation"]["id"]
                for c in (first_conversation, second_conversation)
            }
            assert len(conversations) == 1
            await reply(http, b, first_conversation, "Both your numbers reach us now")
            await reply(http, a, second_conversation, "And this one too")
