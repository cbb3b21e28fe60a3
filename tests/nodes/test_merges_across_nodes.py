"""A contact merged through one node is merged for every node: a visitor connected to node B
keeps getting replies after node A merged their conversation into another."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from adapters.twilio.fake import FakeTwilio
from tests.nodes.cluster import api, reply, two_nodes, visitor


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
