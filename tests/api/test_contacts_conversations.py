"""Contacts (create, get, merge) and conversations (create, get, merged ids)."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from sqlmodel import Session, select

from gateway.clock import now
from gateway.store.models import ContactRow, ConversationRow, EventRow, IdentityRow
from tests.api.conftest import Api


async def test_create_contact_with_identities_and_get_it(api: Api) -> None:
    contact = await api.contact(("sms", "+15550002222"), ("chat", "site-user-9"), name="Ann")
    assert contact["displayName"] == "Ann"
    assert contact["identities"] == [
        {"channelId": "sms", "channelType": "SMS", "address": "+15550002222"},
        {"channelId": "chat", "channelType": "CHAT", "address": "site-user-9"},
    ]
    assert contact["optedOut"] == []
    got = await api.call("GET", f"/inbox/v2/contacts/{contact['id']}")
    assert got["contact"] == contact


async def test_contact_without_name_is_named_after_its_first_address(api: Api) -> None:
    body = {"identities": [{"channelId": "sms", "address": "+15550002222"}]}
    contact = (await api.call("POST", "/inbox/v2/contacts", json=body))["contact"]
    assert contact["displayName"] == "+15550002222"


async def test_unknown_channel_or_bad_phone_is_400_and_stores_nothing(api: Api) -> None:
    body = {
        "identities": [
            {"channelId": "email", "address": "a@example.com"},
            {"channelId": "sms", "address": "555-CALL-NOW"},
        ]
    }
    answer = await api.call("POST", "/inbox/v2/contacts", status=400, json=body)
    fields = [v["field"] for v in answer["details"]["validationError"]["fieldViolations"]]
    assert fields == ["identities.0.channelId", "identities.1.address"]
    assert await api.count(ContactRow) == 0 and await api.count(IdentityRow) == 0


async def test_an_address_owned_by_another_contact_is_409(api: Api) -> None:
    await api.contact(("sms", "+15550002222"))
    body = {"identities": [{"channelId": "sms", "address": "+15550002222"}]}
    answer = await api.call("POST", "/inbox/v2/contacts", status=409, json=body)
    assert answer["details"]["applicationError"]["code"] == "IDENTITY_TAKEN"
    assert await api.count(ContactRow) == 1


async def test_unknown_contact_is_404(api: Api) -> None:
    answer = await api.call("GET", "/inbox/v2/contacts/nope", status=404)
    assert answer["details"]["applicationError"]["code"] == "CONTACT_NOT_FOUND"
    body = {"participantId": {"contactId": "nope"}}
    answer = await api.call("POST", "/inbox/v2/conversations", status=404, json=body)
    assert answer["details"]["applicationError"]["code"] == "CONTACT_NOT_FOUND"
    assert await api.count(ConversationRow) == 0


async def test_one_conversation_per_participant(api: Api) -> None:
    contact = await api.contact(("sms", "+15550002222"))
    body = {"participantId": {"contactId": contact["id"]}}
    first = await api.call("POST", "/inbox/v2/conversations", json=body)
    again = await api.call("POST", "/inbox/v2/conversations", json=body)
    assert first["newConversation"] is True and again["newConversation"] is False
    assert first["conversation"]["id"] == again["conversation"]["id"]
    conversation = first["conversation"]
    assert conversation["participant"] == {"contactId": contact["id"]}
    assert conversation["channels"] == ["SMS"] and conversation["channelIds"] == ["sms"]
    assert conversation["businessDisplayData"] == {"name": "Test Shop"}
    assert conversation["participantDisplayData"] == {"name": "Ann"}
    got = await api.call("GET", f"/inbox/v2/conversations/{conversation['id']}")
    assert got["conversation"] == conversation


async def test_member_conversations_and_unknown_visitors(api: Api) -> None:
    member = await api.call(
        "POST", "/inbox/v2/conversations", json={"participantId": {"memberId": "m-1"}}
    )
    assert member["conversation"]["participant"] == {"memberId": "m-1"}
    answer = await api.call(
        "POST",
        "/inbox/v2/conversations",
        status=404,
        json={"participantId": {"anonymousVisitorId": "ghost"}},
    )
    assert answer["details"]["applicationError"]["code"] == "PARTICIPANT_NOT_FOUND"


async def test_participant_id_needs_exactly_one_kind(api: Api) -> None:
    for participant in ({}, {"contactId": "a", "memberId": "b"}, {"email": "x"}):
        answer = await api.call(
            "POST", "/inbox/v2/conversations", status=400, json={"participantId": participant}
        )
        [violation] = answer["details"]["validationError"]["fieldViolations"]
        assert violation["field"].startswith("participantId")
        if "email" not in participant:  # named as the client writes them
            assert "contactId, anonymousVisitorId, memberId" in violation["description"]


async def test_unknown_conversation_is_404(api: Api) -> None:
    answer = await api.call("GET", "/inbox/v2/conversations/nope", status=404)
    assert answer["details"]["applicationError"]["code"] == "CONVERSATION_NOT_FOUND"


async def test_merge_moves_identities_and_messages_in_time_order(api: Api) -> None:
    target = await api.contact(("sms", "+15550002222"), name="Ann (SMS)")
    source = await api.contact(("chat", "ann-on-site"), name="Ann (chat)")
    target_conversation = await api.conversation_of(target["id"])
    source_conversation = await api.conversation_of(source["id"])
    start = now() - timedelta(minutes=10)
    # Interleaved in time: the merged conversation must keep this order.
    await api.inbound(source_conversation["id"], "chat", "s1", at=start)
    await api.inbound(target_conversation["id"], "sms", "t1", at=start + timedelta(minutes=1))
    await api.inbound(source_conversation["id"], "chat", "s2", at=start + timedelta(minutes=2))
    await api.inbound(target_conversation["id"], "sms", "t2", at=start + timedelta(minutes=3))

    merged = await api.call(
        "POST",
        f"/inbox/v2/contacts/{target['id']}/merge",
        json={"sourceContactIds": [source["id"]]},
    )
    identities = {(i["channelId"], i["address"]) for i in merged["contact"]["identities"]}
    assert identities == {("sms", "+15550002222"), ("chat", "ann-on-site")}

    listing = await api.call(
        "GET",
        "/inbox/v2/messages",
        params={
            "conversationId": source_conversation["id"],
            "visibility": "BUSINESS",
            "sorting.order": "ASC",
        },
    )
    texts = [m["content"]["previewText"] for m in listing["messages"]]
    assert texts == ["s1", "t1", "s2", "t2"]
    assert [m["sequence"] for m in listing["messages"]] == ["1", "2", "3", "4"]
    assert {m["conversationId"] for m in listing["messages"]} == {target_conversation["id"]}

    # Old ids answer as the target.
    old = await api.call("GET", f"/inbox/v2/conversations/{source_conversation['id']}")
    assert old["conversation"]["id"] == target_conversation["id"]
    assert old["conversation"]["channelIds"] == ["sms", "chat"]
    old_contact = await api.call("GET", f"/inbox/v2/contacts/{source['id']}")
    assert old_contact["contact"]["id"] == target["id"]

    def merged_events(session: Session) -> list[EventRow]:
        return list(session.exec(select(EventRow).where(EventRow.slug == "conversations_merged")))

    events = await api.gateway.db.read(merged_events)
    assert len(events) == 1
    assert events[0].body == {
        "oldConversationIds": [source_conversation["id"]],
        "targetConversationId": target_conversation["id"],
    }


async def test_merge_creates_the_targets_conversation_when_only_a_source_has_one(
    api: Api,
) -> None:
    target = await api.contact(("sms", "+15550002222"))
    source = await api.contact(("chat", "u-1"))
    source_conversation = await api.conversation_of(source["id"])
    await api.inbound(source_conversation["id"], "chat", "hello")
    await api.call(
        "POST",
        f"/inbox/v2/contacts/{target['id']}/merge",
        json={"sourceContactIds": [source["id"]]},
    )
    conversation = await api.conversation_of(target["id"])
    assert conversation["id"] != source_conversation["id"]
    listing = await api.call(
        "GET",
        "/inbox/v2/messages",
        params={"conversationId": conversation["id"], "visibility": "BUSINESS"},
    )
    assert [m["content"]["previewText"] for m in listing["messages"]] == ["hello"]


#: more merges one after another than following a merge goes (32 hops, its guard against a loop)
LONG_CHAIN = 34


async def test_ids_of_a_long_chain_of_merges_all_answer_as_the_last_contact(api: Api) -> None:
    """Ann merged into Ann 2, that one into Ann 3, and so on: the first ids still answer as
    the contact at the end, with every message, and take replies."""
    people = []
    for n in range(LONG_CHAIN):
        contact = await api.contact(("sms", f"+155500{n:05d}"), name=f"Ann {n}")
        conversation = await api.conversation_of(contact["id"])
        await api.inbound(conversation["id"], "sms", f"hello {n}")
        people.append((contact["id"], conversation["id"]))
    for (source, _), (target, _) in pairwise(people):
        await api.call(
            "POST", f"/inbox/v2/contacts/{target}/merge", json={"sourceContactIds": [source]}
        )
    (first, first_conversation), (last, last_conversation) = people[0], people[-1]

    contact = (await api.call("GET", f"/inbox/v2/contacts/{first}"))["contact"]
    assert contact["id"] == last
    assert len(contact["identities"]) == LONG_CHAIN
    conversation = await api.call("GET", f"/inbox/v2/conversations/{first_conversation}")
    assert conversation["conversation"]["id"] == last_conversation
    await api.send(first_conversation, "All your numbers reach us now")
    listing = await api.call(
        "GET",
        "/inbox/v2/messages",
        params={
            "conversationId": first_conversation,
            "visibility": "BUSINESS",
            "paging.limit": "100",
        },
    )
    assert len(listing["messages"]) == LONG_CHAIN + 1
    assert {m["conversationId"] for m in listing["messages"]} == {last_conversation}


async def test_merge_with_unknown_source_is_404_and_changes_nothing(api: Api) -> None:
    target = await api.contact(("sms", "+15550002222"))
    source = await api.contact(("chat", "u-1"))
    answer = await api.call(
        "POST",
        f"/inbox/v2/contacts/{target['id']}/merge",
        status=404,
        json={"sourceContactIds": [source["id"], "nope"]},
    )
    assert answer["details"]["applicationError"]["code"] == "CONTACT_NOT_FOUND"
    still = await api.call("GET", f"/inbox/v2/contacts/{source['id']}")
    assert still["contact"]["id"] == source["id"]
    assert len(still["contact"]["identities"]) == 1
    missing = await api.call(
        "POST", "/inbox/v2/contacts/nope/merge", status=404, json={"sourceContactIds": ["x"]}
    )
    assert missing["details"]["applicationError"]["code"] == "CONTACT_NOT_FOUND"
    empty = await api.call(
        "POST",
        f"/inbox/v2/contacts/{target['id']}/merge",
        status=400,
        json={"sourceContactIds": []},
    )
    assert empty["details"]["validationError"]["fieldViolations"][0]["field"] == "sourceContactIds"
