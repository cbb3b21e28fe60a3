"""SMS end to end: Twilio's webhooks in, the REST API out, through the real gateway and client."""

from __future__ import annotations

from typing import Any

from adapters.twilio.fake import FakeTwilio
from tests.e2e.conftest import CUSTOMER_PHONE, Api
from tests.support.polling import eventually

TEMPLATE = {
    "template": {
        "title": "Your order shipped",
        "textLines": ["What would you like to do?"],
        "buttons": [
            {"label": "Track it", "postbackProperties": {"interactionId": "TRACK"}},
            {"label": "Change address", "postbackProperties": {"interactionId": "CHANGE"}},
            {"label": "Talk to us", "postbackProperties": {"interactionId": "HUMAN"}},
        ],
    }
}


def text(value: str) -> dict[str, Any]:
    return {"basic": {"items": [{"text": value}]}}


async def customer_texts(api: Api, twilio: FakeTwilio, body: str) -> str:
    """The customer texts the business; answers their conversation's id."""
    reply = await twilio.post_inbound(f"{api.live.url}/channels/sms/inbound", CUSTOMER_PHONE, body)
    assert reply.status == 200
    conversation: dict[str, Any] = await api.only_conversation()
    return str(conversation["id"])


def status_url(api: Api) -> str:
    return f"{api.live.url}/channels/sms/status"


async def sent_count(twilio: FakeTwilio, count: int) -> list[dict[str, Any]]:
    """Wait until the fake accepted `count` messages; answers them."""
    await eventually(lambda: len(twilio.sent) >= count)
    return twilio.sent


async def system_notes(api: Api, conversation_id: str) -> list[str]:
    messages = await api.messages(conversation_id, "BUSINESS")
    return [
        m["content"]["system"]["text"]
        for m in messages
        if "system" in m["content"] and m["visibility"] == "BUSINESS"
    ]


async def test_a_reply_is_sent_with_a_status_callback_and_becomes_delivered(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Is my order on its way?")
    message = await sms_api.send_ok(conversation_id, text("Yes, it ships today."))
    [sent] = await sent_count(twilio, 1)
    assert sent["To"] == CUSTOMER_PHONE and sent["From"] == "+15550001111"
    assert sent["Body"] == "Yes, it ships today."
    assert sent["StatusCallback"] == status_url(sms_api)
    sent_message = await sms_api.delivery_status(message["id"], "SENT")
    assert sent_message["delivery"]["providerMessageIds"] == [sent["sid"]]
    for status in ("sent", "delivered"):
        reply = await twilio.post_status(sent["StatusCallback"], sent["sid"], status)
        assert reply.status == 200
    delivered = await sms_api.message(message["id"])
    assert delivered["delivery"]["status"] == "DELIVERED"
    assert "error" not in delivered["delivery"]


async def test_a_long_reply_is_delivered_only_when_every_part_is(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Tell me everything")
    long_text = " ".join(f"word{i:04d}" for i in range(389))  # 3500 characters
    assert len(long_text) == 3500
    message = await sms_api.send_ok(conversation_id, text(long_text))
    await sms_api.delivery_status(message["id"], "SENT")
    parts = list(twilio.sent)
    assert len(parts) == 3
    assert all(len(p["Body"]) <= 1600 for p in parts)
    assert " ".join(p["Body"] for p in parts) == long_text
    for part in parts[:-1]:
        await twilio.post_status(status_url(sms_api), part["sid"], "delivered")
    assert (await sms_api.message(message["id"]))["delivery"]["status"] == "SENT"
    await twilio.post_status(status_url(sms_api), parts[-1]["sid"], "delivered")
    assert (await sms_api.message(message["id"]))["delivery"]["status"] == "DELIVERED"


async def test_a_long_reply_fails_when_one_part_is_undelivered(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Tell me everything")
    long_text = " ".join(f"word{i:04d}" for i in range(389))
    message = await sms_api.send_ok(conversation_id, text(long_text))
    await sms_api.delivery_status(message["id"], "SENT")
    first, second, third = twilio.sent
    await twilio.post_status(status_url(sms_api), first["sid"], "delivered")
    await twilio.post_status(status_url(sms_api), second["sid"], "undelivered", error_code=30007)
    await twilio.post_status(status_url(sms_api), third["sid"], "delivered")
    failed = await sms_api.message(message["id"])
    assert failed["delivery"]["status"] == "FAILED"
    error = failed["delivery"]["error"]
    assert "30007" in error["code"]
    assert "filtered" in error["message"]
    [note] = await system_notes(sms_api, conversation_id)
    assert "filtered" in note


async def test_a_numbered_reply_to_a_template_is_a_button_interaction(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Where is my parcel?")
    template = await sms_api.send_ok(conversation_id, TEMPLATE)
    await sms_api.delivery_status(template["id"], "SENT")
    [sent] = twilio.sent
    lines = sent["Body"].splitlines()
    assert lines[:2] == ["Your order shipped", "What would you like to do?"]
    assert lines[2:5] == ["1) Track it", "2) Change address", "3) Talk to us"]
    assert "number" in lines[5]
    await twilio.post_inbound(f"{sms_api.live.url}/channels/sms/inbound", CUSTOMER_PHONE, " 2 ")
    messages = await sms_api.messages(conversation_id, "BUSINESS_AND_PARTICIPANT")
    assert messages[-1]["content"]["basic"]["items"] == [{"text": " 2 "}]
    assert messages[-1]["direction"] == "PARTICIPANT_TO_BUSINESS"
    [pressed] = await sms_api.events("button_interacted")
    assert pressed["interactionId"] == "CHANGE"
    assert pressed["messageId"] == template["id"]
    assert pressed["channelId"] == "sms"
    assert pressed["conversationId"] == conversation_id
    received = await sms_api.events("message_sent_to_business")
    assert received[-1]["message"]["id"] == messages[-1]["id"]
    assert received[-1]["interactionInfo"] == {"interactionId": "CHANGE"}
    assert "interactionInfo" not in received[0]


async def test_a_number_twilio_refuses_fails_at_once_with_its_code(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Hello")
    twilio.fail_next(code=21211, status=400)
    message = await sms_api.send_ok(conversation_id, text("Thanks for writing"))
    failed = await sms_api.delivery_status(message["id"], "FAILED")
    assert "21211" in failed["delivery"]["error"]["code"]
    assert len(twilio.requests) == 1 and twilio.sent == []
    [note] = await system_notes(sms_api, conversation_id)
    assert "could not be delivered" in note


async def test_a_server_error_is_retried_and_the_reply_sent(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Hello")
    twilio.fail_next(status=503)
    message = await sms_api.send_ok(conversation_id, text("Sorry for the wait"))
    sent = await sms_api.delivery_status(message["id"], "SENT")
    assert len(twilio.requests) == 2
    [accepted] = twilio.sent
    assert accepted["Body"] == "Sorry for the wait"
    assert sent["delivery"]["providerMessageIds"] == [accepted["sid"]]
    assert await system_notes(sms_api, conversation_id) == []


async def test_after_stop_a_reply_is_refused_and_not_stored(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Hi")
    await twilio.post_inbound(f"{sms_api.live.url}/channels/sms/inbound", CUSTOMER_PHONE, "STOP")
    before = await sms_api.stored_count()
    status, body = await sms_api.send(conversation_id, text("One more thing"))
    assert status == 409
    assert body["details"]["applicationError"]["code"] == "PARTICIPANT_OPTED_OUT"
    assert await sms_api.stored_count() == before
    assert twilio.requests == []


async def test_a_21610_answer_marks_the_contact_opted_out(sms_api: Api, twilio: FakeTwilio) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Hi")
    # Twilio blocks the pair (the customer texted STOP to another of our numbers, say)
    twilio.opted_out.add(CUSTOMER_PHONE)
    message = await sms_api.send_ok(conversation_id, text("Our sale starts today"))
    failed = await sms_api.delivery_status(message["id"], "FAILED")
    assert "21610" in failed["delivery"]["error"]["code"]
    conversation = await sms_api.only_conversation()
    contact = await sms_api.contact(conversation["participant"]["contactId"])
    assert contact["optedOut"] == ["sms"]
    status, body = await sms_api.send(conversation_id, text("And another"))
    assert (status, body["details"]["applicationError"]["code"]) == (409, "PARTICIPANT_OPTED_OUT")


async def test_an_image_goes_out_as_mms_media(sms_api: Api, twilio: FakeTwilio) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "What does it look like?")
    image = "https://shop.example.com/img/lamp.jpg"
    content = {"basic": {"items": [{"text": "Here it is"}, {"image": {"url": image}}]}}
    message = await sms_api.send_ok(conversation_id, content)
    await sms_api.delivery_status(message["id"], "SENT")
    media = [url for sent in twilio.sent for url in sent["MediaUrl"]]
    assert media == [image]
    assert "Here it is" in " ".join(sent.get("Body", "") for sent in twilio.sent)
    assert all(image not in sent.get("Body", "") for sent in twilio.sent)


async def test_statuses_arriving_out_of_order_never_move_back(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Hello")
    message = await sms_api.send_ok(conversation_id, text("Hi there"))
    await sms_api.delivery_status(message["id"], "SENT")
    [sent] = twilio.sent
    for status in ("delivered", "sent", "sending", "queued"):
        assert (await twilio.post_status(status_url(sms_api), sent["sid"], status)).status == 200
    assert (await sms_api.message(message["id"]))["delivery"]["status"] == "DELIVERED"


async def test_a_repeated_undelivered_callback_leaves_one_note(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Hello")
    message = await sms_api.send_ok(conversation_id, text("Hi there"))
    await sms_api.delivery_status(message["id"], "SENT")
    [sent] = twilio.sent
    for _ in range(2):
        await twilio.post_status(status_url(sms_api), sent["sid"], "undelivered", error_code=30003)
    failed = await sms_api.message(message["id"])
    assert failed["delivery"]["status"] == "FAILED"
    assert "30003" in failed["delivery"]["error"]["code"]
    assert len(await system_notes(sms_api, conversation_id)) == 1
    updates = [
        e["delivery"]["status"]
        for e in await sms_api.events("message_delivery_updated")
        if e["messageId"] == message["id"]
    ]
    assert updates == ["SENT", "FAILED"]


async def test_a_21610_status_callback_marks_the_contact_opted_out(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Hi")
    message = await sms_api.send_ok(conversation_id, text("Our sale starts today"))
    await sms_api.delivery_status(message["id"], "SENT")
    [sent] = twilio.sent
    await twilio.post_status(status_url(sms_api), sent["sid"], "failed", error_code=21610)
    failed = await sms_api.message(message["id"])
    assert failed["delivery"]["status"] == "FAILED"
    conversation = await sms_api.only_conversation()
    contact = await sms_api.contact(conversation["participant"]["contactId"])
    assert contact["optedOut"] == ["sms"]


async def test_the_same_idempotency_key_sends_one_sms(sms_api: Api, twilio: FakeTwilio) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Hi")
    body = {"conversationId": conversation_id, "message": {"content": text("Only once")}}
    headers = {**sms_api.live.auth, "Idempotency-Key": "order-42-shipped"}
    ids = []
    for _ in range(2):
        async with sms_api.http.post(
            f"{sms_api.live.url}/inbox/v2/messages", json=body, headers=headers
        ) as response:
            assert response.status == 200
            ids.append((await response.json())["message"]["id"])
    assert ids[0] == ids[1]
    await sms_api.delivery_status(ids[0], "SENT")
    assert [s["Body"] for s in twilio.sent] == ["Only once"]


async def test_a_reply_naming_a_choice_by_its_label_is_a_button_interaction(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Where is my parcel?")
    template = await sms_api.send_ok(conversation_id, TEMPLATE)
    await sms_api.delivery_status(template["id"], "SENT")
    url = f"{sms_api.live.url}/channels/sms/inbound"
    await twilio.post_inbound(url, CUSTOMER_PHONE, "talk to us")
    await twilio.post_inbound(url, CUSTOMER_PHONE, "7")  # no such choice: just a message
    pressed = await sms_api.events("button_interacted")
    assert [(p["interactionId"], p["messageId"]) for p in pressed] == [("HUMAN", template["id"])]
    messages = await sms_api.messages(conversation_id, "BUSINESS_AND_PARTICIPANT")
    assert [m["content"]["basic"]["items"][0]["text"] for m in messages[-2:]] == ["talk to us", "7"]


async def test_an_inbound_mms_shows_its_image(sms_api: Api, twilio: FakeTwilio) -> None:
    image = twilio.add_media(b"\x89PNG fake", "image/png")
    reply = await twilio.post_inbound(
        f"{sms_api.live.url}/channels/sms/inbound",
        CUSTOMER_PHONE,
        "Broken on arrival",
        media=[(image, "image/png")],
    )
    assert reply.status == 200
    conversation = await sms_api.only_conversation()
    [message] = await sms_api.messages(conversation["id"], "BUSINESS_AND_PARTICIPANT")
    items = message["content"]["basic"]["items"]
    assert {"text": "Broken on arrival"} in items
    assert [i["image"]["url"] for i in items if "image" in i] == [image]
    assert message["sourceChannelId"] == "sms" and message["sourceChannel"] == "SMS"


async def test_a_failure_reported_before_the_create_answer_still_fails_the_reply(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Hello")
    twilio.early_status = [("failed", 30007)]
    message = await sms_api.send_ok(conversation_id, text("Hi there"))
    # once the answer is recorded the failure must show (bounded: the bug leaves it SENT)
    await eventually(lambda: _not_pending(sms_api, message["id"]))
    failed = await sms_api.delivery_status(message["id"], "FAILED", timeout=2.0)
    assert "30007" in failed["delivery"]["error"]["code"]


async def _not_pending(api: Api, message_id: str) -> bool:
    return bool((await api.message(message_id))["delivery"]["status"] != "PENDING")
