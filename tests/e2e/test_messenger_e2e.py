"""Messenger end to end: Meta's signed webhooks in, the REST API out, through the real gateway."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import Session, select

from adapters.messenger.fake import (
    FakeGraph,
    delivery_event,
    echo_event,
    message_event,
    post_event,
    post_events,
    postback_event,
    quick_reply_event,
    read_event,
)
from channels import MessageContent
from gateway.clock import now
from gateway.outbound.rules import SendRequest, send_message
from gateway.store.models import ConversationRow, DeliveryRow
from tests.e2e.conftest import PSID, Api
from tests.support.config import APP_SECRET
from tests.support.polling import eventually

#: an app of ours that is not configured as `app_id`: echoes are known by their mid alone
OUR_APP_ID = 555000111


def text(value: str) -> dict[str, Any]:
    return {"basic": {"items": [{"text": value}]}}


def webhook(api: Api) -> str:
    return f"{api.live.url}/channels/facebook/webhook"


async def person_writes(api: Api, graph: FakeGraph, body: str = "Hello") -> str:
    """The person messages the Page; answers their conversation's id once they are known."""
    graph.profiles[PSID] = {"first_name": "Ada", "last_name": "Lovelace"}
    status, _ = await post_event(webhook(api), APP_SECRET, message_event(PSID, body))
    assert status == 200

    async def named() -> dict[str, Any] | None:
        conversation = await api.only_conversation()
        known = conversation["participantDisplayData"]["name"] == "Ada Lovelace"
        return conversation if known else None

    # the profile lookup after first contact is over: scripted Graph failures are for sends
    conversation: dict[str, Any] = await eventually(named)
    return str(conversation["id"])


async def last_inbound_back(api: Api, age: timedelta) -> None:
    """Pretend the person's last message is `age` old."""

    def age_it(session: Session) -> None:
        conversation = session.exec(select(ConversationRow)).one()
        conversation.last_inbound_at = now() - age

    await api.live.gateway.db.write(age_it)


async def agent_reply(api: Api, conversation_id: str, body: str) -> str:
    """An agent answers, as the inbox page does; answers the message id (raises if refused)."""
    gw = api.live.gateway
    request = SendRequest(
        conversation_id=conversation_id, content=MessageContent.model_validate(text(body))
    )

    def store(session: Session) -> str:
        message, _ = send_message(
            session, gw.directory, request, sender=("agentId", "alice"), now=now()
        )
        return message.id

    return await gw.db.write(store)


async def system_notes(api: Api, conversation_id: str) -> list[str]:
    messages = await api.messages(conversation_id, "BUSINESS")
    return [m["content"]["system"]["text"] for m in messages if "system" in m["content"]]


async def test_a_reply_to_a_message_goes_out_as_a_response(fb_api: Api, graph: FakeGraph) -> None:
    conversation_id = await person_writes(fb_api, graph, "Do you ship to Oslo?")
    message = await fb_api.send_ok(conversation_id, text("We do!"))
    sent_message = await fb_api.delivery_status(message["id"], "SENT")
    [sent] = graph.sent
    assert sent["recipient"] == {"id": PSID}
    assert sent["messaging_type"] == "RESPONSE" and sent["tag"] is None
    assert sent["message"] == {"text": "We do!"}
    assert sent_message["delivery"]["providerMessageIds"] == [sent["message_id"]]


TEMPLATE = {
    "template": {
        "title": "Your order",
        "textLines": ["Shipped today"],
        "buttons": [
            {"label": label, "postbackProperties": {"interactionId": f"ID_{label.upper()}"}}
            for label in ("Track", "Return", "Invoice", "Help", "Cancel")
        ],
    }
}


async def test_five_postback_buttons_are_a_card_of_three_and_two_quick_replies(
    fb_api: Api, graph: FakeGraph
) -> None:
    conversation_id = await person_writes(fb_api, graph)
    message = await fb_api.send_ok(conversation_id, TEMPLATE)
    await fb_api.delivery_status(message["id"], "SENT")
    card, replies = graph.sent
    payload = card["message"]["attachment"]["payload"]
    assert card["message"]["attachment"]["type"] == "template"
    assert payload["template_type"] == "generic"
    [element] = payload["elements"]
    assert (element["title"], element["subtitle"]) == ("Your order", "Shipped today")
    assert element["buttons"] == [
        {"type": "postback", "title": label, "payload": f"ID_{label.upper()}"}
        for label in ("Track", "Return", "Invoice")
    ]
    assert [(q["title"], q["payload"]) for q in replies["message"]["quick_replies"]] == [
        ("Help", "ID_HELP"),
        ("Cancel", "ID_CANCEL"),
    ]
    assert replies["message"]["text"]
    assert len(message["delivery"]["providerMessageIds"]) == 0  # PENDING when answered
    final = await fb_api.message(message["id"])
    assert final["delivery"]["providerMessageIds"] == [card["message_id"], replies["message_id"]]


async def test_a_postback_and_a_quick_reply_from_the_card_name_the_card(
    fb_api: Api, graph: FakeGraph
) -> None:
    conversation_id = await person_writes(fb_api, graph)
    message = await fb_api.send_ok(conversation_id, TEMPLATE)
    await fb_api.delivery_status(message["id"], "SENT")
    await post_event(webhook(fb_api), APP_SECRET, postback_event(PSID, "Return", "ID_RETURN"))
    await post_event(webhook(fb_api), APP_SECRET, quick_reply_event(PSID, "Help", "ID_HELP"))
    pressed = await fb_api.events("button_interacted")
    assert [(p["interactionId"], p["messageId"]) for p in pressed] == [
        ("ID_RETURN", message["id"]),
        ("ID_HELP", message["id"]),
    ]
    assert all(p["channelId"] == "facebook" for p in pressed)
    assert all(p["conversationId"] == conversation_id for p in pressed)
    messages = await fb_api.messages(conversation_id, "BUSINESS_AND_PARTICIPANT")
    texts = [m["content"]["basic"]["items"][0]["text"] for m in messages if "basic" in m["content"]]
    assert texts[-2:] == ["Return", "Help"]
    received = await fb_api.events("message_sent_to_business")
    assert [r.get("interactionInfo") for r in received[-2:]] == [
        {"interactionId": "ID_RETURN"},
        {"interactionId": "ID_HELP"},
    ]


async def test_a_reply_after_24_hours_is_refused_and_not_stored(
    fb_api: Api, graph: FakeGraph
) -> None:
    conversation_id = await person_writes(fb_api, graph)
    await last_inbound_back(fb_api, timedelta(hours=25))
    before = await fb_api.stored_count()
    status, body = await fb_api.send(conversation_id, text("Still there?"))
    assert status == 409
    assert body["details"]["applicationError"]["code"] == "OUTSIDE_MESSAGING_WINDOW"
    assert await fb_api.stored_count() == before
    assert graph.attempts == []


async def test_an_agent_may_answer_within_7_days_with_the_human_agent_tag(
    fb_agent_api: Api, graph: FakeGraph
) -> None:
    conversation_id = await person_writes(fb_agent_api, graph)
    await last_inbound_back(fb_agent_api, timedelta(days=3))
    # an API client is no human agent: the 24 h window still holds for it
    status, body = await fb_agent_api.send(conversation_id, text("Automated follow-up"))
    assert (status, body["details"]["applicationError"]["code"]) == (
        409,
        "OUTSIDE_MESSAGING_WINDOW",
    )
    message_id = await agent_reply(fb_agent_api, conversation_id, "Sorry for the delay!")
    await fb_agent_api.delivery_status(message_id, "SENT")
    [sent] = graph.sent
    assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert sent["message"] == {"text": "Sorry for the delay!"}


async def test_an_agent_reply_after_7_days_is_refused(fb_agent_api: Api, graph: FakeGraph) -> None:
    conversation_id = await person_writes(fb_agent_api, graph)
    await last_inbound_back(fb_agent_api, timedelta(days=8))
    before = await fb_agent_api.stored_count()
    try:
        await agent_reply(fb_agent_api, conversation_id, "Hello again")
    except Exception as refused:  # gateway.outbound.rules.Refused
        assert getattr(refused, "code", None) == "OUTSIDE_MESSAGING_WINDOW"
    else:
        raise AssertionError("the agent's reply was accepted outside the 7-day window")
    assert await fb_agent_api.stored_count() == before


async def test_a_rate_limited_send_is_retried_and_sent(fb_api: Api, graph: FakeGraph) -> None:
    conversation_id = await person_writes(fb_api, graph)
    graph.fail_next(613)
    message = await fb_api.send_ok(conversation_id, text("Thanks!"))
    await fb_api.delivery_status(message["id"], "SENT")
    assert len(graph.attempts) == 2
    assert [s["message"] for s in graph.sent] == [{"text": "Thanks!"}]
    assert await system_notes(fb_api, conversation_id) == []


async def test_an_unavailable_person_fails_at_once_with_a_note(
    fb_api: Api, graph: FakeGraph
) -> None:
    conversation_id = await person_writes(fb_api, graph)
    graph.fail_next(551)
    message = await fb_api.send_ok(conversation_id, text("Thanks!"))
    failed = await fb_api.delivery_status(message["id"], "FAILED")
    assert failed["delivery"]["error"]["code"] == "PERSON_UNAVAILABLE"
    assert "isn't available" in failed["delivery"]["error"]["message"]
    assert len(graph.attempts) == 1 and graph.sent == []
    [note] = await system_notes(fb_api, conversation_id)
    assert "could not be delivered" in note and "isn't available" in note


async def test_delivery_and_read_watermarks_move_the_reply_forward(
    fb_api: Api, graph: FakeGraph
) -> None:
    conversation_id = await person_writes(fb_api, graph)
    message = await fb_api.send_ok(conversation_id, text("Your parcel is out for delivery"))
    await fb_api.delivery_status(message["id"], "SENT")
    delivered_at = int(time.time() * 1000) + 1
    [sent] = graph.sent
    await post_event(
        webhook(fb_api), APP_SECRET, delivery_event(PSID, [sent["message_id"]], delivered_at)
    )
    assert (await fb_api.message(message["id"]))["delivery"]["status"] == "DELIVERED"
    await post_event(webhook(fb_api), APP_SECRET, read_event(PSID, delivered_at + 1))
    assert (await fb_api.message(message["id"]))["delivery"]["status"] == "READ"
    # a late delivery watermark does not move it back
    await post_event(webhook(fb_api), APP_SECRET, delivery_event(PSID, None, delivered_at + 2))
    assert (await fb_api.message(message["id"]))["delivery"]["status"] == "READ"


async def test_a_watermark_before_the_send_leaves_the_reply_sent(
    fb_api: Api, graph: FakeGraph
) -> None:
    conversation_id = await person_writes(fb_api, graph)
    before = int(time.time() * 1000) - 60_000
    message = await fb_api.send_ok(conversation_id, text("Your parcel is out for delivery"))
    await fb_api.delivery_status(message["id"], "SENT")
    await post_event(webhook(fb_api), APP_SECRET, read_event(PSID, before))
    assert (await fb_api.message(message["id"]))["delivery"]["status"] == "SENT"


async def test_watermarks_of_several_people_in_one_webhook_move_each_ones_own_replies(
    fb_api: Api, graph: FakeGraph
) -> None:
    """Meta batches the watermarks of several people in one webhook, among their messages:
    each moves only its own person's replies, and only those sent up to its time."""
    other = "psid-e2e-2"
    for psid in (PSID, other):
        status, _ = await post_event(webhook(fb_api), APP_SECRET, message_event(psid, psid))
        assert status == 200
    status, body = await fb_api.call("GET", "/conversations")
    assert status == 200, body
    conversation_of = {}
    for conversation in body["conversations"]:
        [first] = await fb_api.messages(conversation["id"], "BUSINESS_AND_PARTICIPANT")
        conversation_of[first["content"]["basic"]["items"][0]["text"]] = conversation["id"]
    before = int(time.time() * 1000) - 60_000
    replies = {}
    for psid in (PSID, other):
        message = await fb_api.send_ok(conversation_of[psid], text("Your parcel is out"))
        replies[psid] = await fb_api.delivery_status(message["id"], "SENT")
    after = int(time.time() * 1000) + 1_000

    batched = [
        read_event(PSID, after),
        message_event(other, "and another thing"),
        delivery_event(other, None, before),
        read_event(other, before),
    ]
    status, _ = await post_events(webhook(fb_api), APP_SECRET, batched)

    assert status == 200
    assert (await fb_api.message(replies[PSID]["id"]))["delivery"]["status"] == "READ"
    assert (await fb_api.message(replies[other]["id"]))["delivery"]["status"] == "SENT"
    texts = [
        m["content"]["basic"]["items"][0]["text"]
        for m in await fb_api.messages(conversation_of[other], "BUSINESS_AND_PARTICIPANT")
    ]
    assert texts == [other, "Your parcel is out", "and another thing"]


async def test_a_delivery_watermark_reads_none_of_the_replies_delivered_before(
    fb_api: Api, graph: FakeGraph
) -> None:
    """A person who never reads keeps every reply DELIVERED, and Meta sends a delivery
    watermark for each new one: it must not read them all again each time."""
    conversation_id = await person_writes(fb_api, graph)
    replies = []
    for n in range(3):
        message = await fb_api.send_ok(conversation_id, text(f"Update {n}"))
        replies.append(await fb_api.delivery_status(message["id"], "SENT"))
    delivered_at = int(time.time() * 1000) + 1
    await post_event(webhook(fb_api), APP_SECRET, delivery_event(PSID, None, delivered_at))
    for reply in replies:
        assert (await fb_api.message(reply["id"]))["delivery"]["status"] == "DELIVERED"
    loaded: list[DeliveryRow] = []

    def note(target: DeliveryRow, context: object) -> None:
        loaded.append(target)

    event.listen(DeliveryRow, "load", note)
    try:
        status, _ = await post_event(
            webhook(fb_api), APP_SECRET, delivery_event(PSID, None, delivered_at + 5)
        )
    finally:
        event.remove(DeliveryRow, "load", note)
    assert status == 200
    assert loaded == []


async def test_the_echo_of_our_own_reply_is_not_stored_again(fb_api: Api, graph: FakeGraph) -> None:
    conversation_id = await person_writes(fb_api, graph)
    message = await fb_api.send_ok(conversation_id, text("On its way"))
    await fb_api.delivery_status(message["id"], "SENT")
    [sent] = graph.sent
    echo = echo_event(PSID, "On its way", mid=sent["message_id"], app_id=OUR_APP_ID)
    status, _ = await post_event(webhook(fb_api), APP_SECRET, echo)
    assert status == 200
    messages = await fb_api.messages(conversation_id, "BUSINESS_AND_PARTICIPANT")
    assert [m["id"] for m in messages if m["direction"] == "BUSINESS_TO_PARTICIPANT"] == [
        message["id"]
    ]
    sent_events = await fb_api.events("message_sent_to_participant")
    assert [e["message"]["id"] for e in sent_events] == [message["id"]]


async def test_a_long_reply_goes_out_as_several_messages(fb_api: Api, graph: FakeGraph) -> None:
    conversation_id = await person_writes(fb_api, graph)
    long_text = " ".join(f"word{i:04d}" for i in range(455))  # 4094 characters
    message = await fb_api.send_ok(conversation_id, text(long_text))
    sent_message = await fb_api.delivery_status(message["id"], "SENT")
    texts = [s["message"]["text"] for s in graph.sent]
    assert len(texts) == 3 and all(len(t) <= 2000 for t in texts)
    assert " ".join(texts) == long_text
    assert sent_message["delivery"]["providerMessageIds"] == [s["message_id"] for s in graph.sent]


async def test_an_image_goes_out_as_an_attachment(fb_api: Api, graph: FakeGraph) -> None:
    conversation_id = await person_writes(fb_api, graph)
    image = "https://shop.example.com/img/lamp.jpg"
    content = {"basic": {"items": [{"text": "Here it is"}, {"image": {"url": image}}]}}
    message = await fb_api.send_ok(conversation_id, content)
    await fb_api.delivery_status(message["id"], "SENT")
    bodies = [s["message"] for s in graph.sent]
    assert {"text": "Here it is"} in bodies
    attachments = [b["attachment"] for b in bodies if "attachment" in b]
    assert [(a["type"], a["payload"]["url"]) for a in attachments] == [("image", image)]


async def test_a_read_watermark_at_the_replys_own_time_marks_it_read(
    fb_api: Api, graph: FakeGraph
) -> None:
    conversation_id = await person_writes(fb_api, graph)
    message = await fb_api.send_ok(conversation_id, text("Your parcel is out for delivery"))
    await fb_api.delivery_status(message["id"], "SENT")
    [sent] = graph.sent
    # Meta's read watermark is the time of the last message read: this one's own timestamp
    await post_event(webhook(fb_api), APP_SECRET, read_event(PSID, sent["timestamp"]))
    assert (await fb_api.message(message["id"]))["delivery"]["status"] == "READ"


async def test_an_echo_arriving_before_the_send_api_answer_is_not_stored_again(
    fb_api: Api, graph: FakeGraph
) -> None:
    conversation_id = await person_writes(fb_api, graph)
    graph.echo_url = webhook(fb_api)  # Meta may echo a message before answering its send
    message = await fb_api.send_ok(conversation_id, TEMPLATE)
    await fb_api.delivery_status(message["id"], "SENT")
    assert len(graph.sent) == 2
    messages = await fb_api.messages(conversation_id, "BUSINESS_AND_PARTICIPANT")
    assert [m["id"] for m in messages if m["direction"] == "BUSINESS_TO_PARTICIPANT"] == [
        message["id"]
    ]
