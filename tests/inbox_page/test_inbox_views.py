"""The page's JSON: the conversation list, a thread, and replies under the sendMessage rules."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from gateway.clock import now
from gateway.store.models import DeliveryRow
from tests.inbox_page.conftest import PAGE, Inbox, InboxFactory

TEXT = {"basic": {"items": [{"text": "Thanks, on its way"}]}}


async def test_conversations_come_newest_first_with_preview_and_channels(agent: Inbox) -> None:
    older = await agent.inbound("sms", "+15550002222", "first", name="Ann")
    newer = await agent.inbound("fb", "PSID-1", "second", name="Bob")
    data = await agent.get("/inbox/api/conversations")
    listed = data["conversations"]
    assert [c["id"] for c in listed] == [newer, older]
    assert listed[0]["participantDisplayData"]["name"] == "Bob"
    assert listed[0]["channels"] == ["FACEBOOK"]
    assert listed[1]["channels"] == ["SMS"]
    assert listed[0]["lastMessage"]["text"] == "second"


async def test_unread_counts_messages_since_the_business_last_answered(agent: Inbox) -> None:
    conversation_id = await agent.inbound("sms", "+15550002222", "one")
    await agent.inbound("sms", "+15550002222", "two")
    assert (await agent.get("/inbox/api/conversations"))["conversations"][0]["unreadCount"] == 2
    await agent.outbound(conversation_id, "a note for the team", note=True)
    assert (await agent.get("/inbox/api/conversations"))["conversations"][0]["unreadCount"] == 2
    await agent.outbound(conversation_id, "answer")
    assert (await agent.get("/inbox/api/conversations"))["conversations"][0]["unreadCount"] == 0
    await agent.inbound("sms", "+15550002222", "three")
    assert (await agent.get("/inbox/api/conversations"))["conversations"][0]["unreadCount"] == 1


async def test_search_finds_by_name_phone_and_text(agent: Inbox) -> None:
    ann = await agent.inbound("sms", "+15550002222", "where is my parcel", name="Ann Lee")
    bob = await agent.inbound("fb", "PSID-9", "the blue shoes, size 42", name="Bob Stone")

    async def found(query: str) -> list[str]:
        data = await agent.get(f"/inbox/api/conversations?q={query}")
        return [c["id"] for c in data["conversations"]]

    assert await found("ann") == [ann]
    assert await found("0002222") == [ann]
    assert await found("blue%20shoes") == [bob]
    assert await found("nobody-like-this") == []
    # LIKE wildcards typed by an agent are plain characters
    assert await found("%25") == []


async def test_a_thread_shows_every_visibility_in_order(agent: Inbox) -> None:
    conversation_id = await agent.inbound("sms", "+15550002222", "hello", name="Ann")
    await agent.outbound(conversation_id, "VIP customer", note=True)
    await agent.outbound(conversation_id, "Hi Ann!")
    data = await agent.get(f"/inbox/api/conversations/{conversation_id}")
    messages = data["messages"]
    assert [m["content"]["basic"]["items"][0]["text"] for m in messages] == [
        "hello",
        "VIP customer",
        "Hi Ann!",
    ]
    assert [m["visibility"] for m in messages][1] == "BUSINESS"
    assert data["conversation"]["identities"] == [
        {"channelId": "sms", "channelType": "SMS", "address": "+15550002222", "optedOut": False}
    ]
    await agent.get("/inbox/api/conversations/no-such-id", status=404)


async def test_a_reply_is_stored_as_the_agents_and_queued(agent: Inbox) -> None:
    conversation_id = await agent.inbound("sms", "+15550002222", "hello")
    data = await agent.post(
        f"/inbox/api/conversations/{conversation_id}/messages", {"message": {"content": TEXT}}
    )
    message = data["message"]
    assert message["sender"] == {"agentId": "alice"}
    assert message["targetChannelIds"] == ["sms"]
    assert message["delivery"]["status"] == "PENDING"


async def test_a_reply_with_an_unknown_field_is_refused_as_the_api_refuses_it(
    agent: Inbox,
) -> None:
    """A misspelt field (`visibilty`) was ignored: a note meant for agents went to the customer."""
    conversation_id = await agent.inbound("sms", "+15550002222", "hello")
    path = f"/inbox/api/conversations/{conversation_id}/messages"
    for body, field in (
        ({"message": {"content": TEXT, "visibilty": "BUSINESS"}}, "message.visibilty"),
        ({"message": {"content": TEXT}, "bogus": 1}, "bogus"),
    ):
        data = await agent.post(path, body, status=400)
        assert data["message"].endswith(f"unknown field {field}")
    thread = await agent.get(f"/inbox/api/conversations/{conversation_id}")
    assert len(thread["messages"]) == 1, "only the customer's message"


async def test_a_reply_to_a_web_chat_visitor_is_recorded_sent_as_it_is_stored(
    agent: Inbox,
) -> None:
    """The visitor has it from the commit on (their page follows the conversation): the same
    write records it SENT, as the web chat's `send()` would have had it recorded."""
    conversation_id = await agent.inbound("chat", "visitor-1", "hi", anonymous=True)
    path = f"/inbox/api/conversations/{conversation_id}/messages"
    message = (await agent.post(path, {"message": {"content": TEXT}}))["message"]
    assert message["delivery"]["status"] == "PENDING"  # answered as the API answers a send
    stored = await agent.gateway.db.read(lambda s: s.get(DeliveryRow, message["id"]))
    assert stored is not None
    assert (stored.status, stored.provider_message_ids) == ("SENT", [message["id"]])


async def test_an_internal_note_is_never_sent(agent: Inbox) -> None:
    conversation_id = await agent.inbound("sms", "+15550002222", "hello")
    body = {"message": {"content": TEXT, "visibility": "BUSINESS"}}
    message = (await agent.post(f"/inbox/api/conversations/{conversation_id}/messages", body))[
        "message"
    ]
    assert message["visibility"] == "BUSINESS"
    assert "delivery" not in message


async def test_a_template_with_buttons_is_accepted(agent: Inbox) -> None:
    conversation_id = await agent.inbound("chat", "visitor-1", "hi", anonymous=True)
    template = {
        "template": {
            "title": "Your order",
            "textLines": ["Ready for pickup"],
            "buttons": [
                {"label": "Track", "launchUrl": "https://shop.example.com/t/1"},
                {"label": "Call me", "postbackProperties": {"interactionId": "call-me"}},
            ],
        }
    }
    message = (
        await agent.post(
            f"/inbox/api/conversations/{conversation_id}/messages",
            {"message": {"content": template}},
        )
    )["message"]
    assert message["content"]["template"]["buttons"][1]["postbackProperties"] == {
        "interactionId": "call-me"
    }


async def test_system_content_and_bad_content_are_refused(agent: Inbox) -> None:
    conversation_id = await agent.inbound("sms", "+15550002222", "hello")
    path = f"/inbox/api/conversations/{conversation_id}/messages"
    refused = await agent.post(path, {"message": {"content": {"system": {"text": "x"}}}}, 400)
    assert "system" in refused["message"]
    await agent.post(path, {"message": {"content": {"basic": {"items": []}}}}, 400)
    blank = await agent.post(path, {"message": {"content": {"minimal": {"text": "  "}}}}, 400)
    assert blank["message"].startswith("message.content.minimal.text")


async def test_messenger_replies_after_24_hours_are_refused(agent: Inbox) -> None:
    conversation_id = await agent.inbound("fb", "PSID-1", "hello", at=now() - timedelta(hours=30))
    refused = await agent.post(
        f"/inbox/api/conversations/{conversation_id}/messages", {"message": {"content": TEXT}}, 409
    )
    assert refused["details"]["applicationError"]["code"] == "OUTSIDE_MESSAGING_WINDOW"
    thread = await agent.get(f"/inbox/api/conversations/{conversation_id}")
    window = thread["conversation"]["windows"]["fb"]
    assert window["open"] is False and window["agentOpen"] is False


async def test_agents_get_seven_days_on_messenger_with_the_human_agent_tag(
    make_inbox: InboxFactory,
) -> None:
    inbox = await make_inbox(human_agent_tag=True)
    assert (await inbox.login()).status == 200
    conversation_id = await inbox.inbound("fb", "PSID-1", "hello", at=now() - timedelta(days=3))
    message = (
        await inbox.post(
            f"/inbox/api/conversations/{conversation_id}/messages", {"message": {"content": TEXT}}
        )
    )["message"]
    assert message["delivery"]["status"] == "PENDING"
    thread = await inbox.get(f"/inbox/api/conversations/{conversation_id}")
    assert thread["conversation"]["windows"]["fb"]["agentOpen"] is True


async def test_the_live_socket_needs_a_session(inbox: Inbox) -> None:
    response = await inbox.client.get("/inbox/ws")
    assert response.status == 401


async def test_the_live_socket_refuses_other_sites(agent: Inbox) -> None:
    response = await agent.client.get("/inbox/ws", headers={"Origin": "https://evil.example"})
    assert response.status == 403


async def test_the_live_socket_pushes_new_messages(agent: Inbox) -> None:
    ws = await agent.client.ws_connect("/inbox/ws", headers=PAGE)
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello"
    conversation_id = await agent.inbound("sms", "+15550002222", "are you open today?")
    event: dict[str, Any] = await asyncio.wait_for(ws.receive_json(), timeout=10)
    assert event["slug"] == "message_sent_to_business"
    assert event["actionEvent"]["body"]["conversationId"] == conversation_id
    assert event["actionEvent"]["body"]["message"]["content"]["basic"]["items"][0]["text"] == (
        "are you open today?"
    )
    await ws.close()


async def test_the_conversation_list_pages_without_gaps_or_repeats(agent: Inbox) -> None:
    same_moment = now()
    ids = {
        await agent.inbound("chat", f"v_{n:02}", "hi", anonymous=True, at=same_moment)
        for n in range(53)
    }
    first = await agent.get("/inbox/api/conversations")
    assert first["hasMore"] and len(first["conversations"]) == 50
    last_id = first["conversations"][-1]["id"]
    rest = await agent.get(f"/inbox/api/conversations?before={last_id}")
    assert not rest["hasMore"]
    seen = [c["id"] for c in first["conversations"] + rest["conversations"]]
    assert len(seen) == len(set(seen)) == 53
    assert set(seen) == ids
