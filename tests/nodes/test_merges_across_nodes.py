"""A contact merged through one node is merged for every node: a visitor connected to node B
keeps getting replies after node A merged their conversation into another; merges through two
nodes at once, and messages written through one node while the other merges, end as if each
had waited for the other."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from adapters.twilio.fake import FakeTwilio
from tests.nodes.cluster import ROUNDS, api, reply, text_of, two_nodes, visitor
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


#: notes written while a merge runs: enough that some land on each side of it
NOTES = 40


async def get(http: aiohttp.ClientSession, node: Daemon, path: str) -> dict[str, Any]:
    async with http.get(f"{node.url}/inbox/v2{path}", headers=node.auth) as r:
        answer: dict[str, Any] = await r.json()
        assert r.status == 200, answer
        return answer


async def note(http: aiohttp.ClientSession, node: Daemon, conversation_id: str, text: str) -> None:
    """An internal note (visibility BUSINESS) through `node`'s API; it must answer 200."""
    content = {"basic": {"items": [{"text": text}]}}
    message = {"content": content, "visibility": "BUSINESS"}
    await api(http, node, "/messages", {"conversationId": conversation_id, "message": message})


async def two_people(
    http: aiohttp.ClientSession, node: Daemon, prefix: str
) -> list[tuple[str, str]]:
    """Two SMS contacts (numbers `prefix` + 00 and 01), each with a conversation: their ids."""
    people = []
    for n in range(2):
        phone = {"channelId": "sms", "address": f"{prefix}{n:02d}"}
        contact = await api(http, node, "/contacts", {"identities": [phone]})
        contact_id = contact["contact"]["id"]
        started = await api(
            http, node, "/conversations", {"participantId": {"contactId": contact_id}}
        )
        people.append((contact_id, started["conversation"]["id"]))
    return people


async def test_two_contacts_merged_into_each_other_through_two_nodes_at_once_become_one(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    """One merge goes first; the other then finds the two already one, as it would if asked
    after it: both answer that contact, and its conversation takes replies."""
    async with two_nodes(postgres_url, tmp_path, twilio) as (a, b), aiohttp.ClientSession() as http:
        for round_ in range(ROUNDS):
            (first, first_conversation), (second, second_conversation) = await two_people(
                http, a, f"+1555001{round_:02d}"
            )
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


async def test_notes_written_through_one_node_while_another_merges_are_all_kept(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    """Every note answered 200 is listed in the merged conversation, numbered 1 to N, however
    its write and the merge through the other node interleave."""
    async with two_nodes(postgres_url, tmp_path, twilio) as (a, b), aiohttp.ClientSession() as http:
        for round_ in range(ROUNDS):
            (kept, kept_conversation), (merged, merged_conversation) = await two_people(
                http, a, f"+1555002{round_:02d}"
            )
            writes = []
            for i in range(NOTES):
                conversation_id = (kept_conversation, merged_conversation)[i % 2]
                writes.append(note(http, b, conversation_id, f"note {i}"))
                if i == NOTES // 3:
                    writes.append(
                        api(http, a, f"/contacts/{kept}/merge", {"sourceContactIds": [merged]})
                    )
            await asyncio.gather(*writes)
            query = f"conversationId={kept_conversation}&visibility=BUSINESS&paging.limit=100"
            listed = await get(http, a, f"/messages?{query}")
            texts = {text_of(m) for m in listed["messages"]}
            assert texts == {f"note {i}" for i in range(NOTES)}
            sequences = sorted(int(m["sequence"]) for m in listed["messages"])
            assert sequences == list(range(1, NOTES + 1))
