"""sendMessage (POST /inbox/v2/messages): what is stored, where it goes, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from channels import Direction, MessageContent
from gateway.clock import now
from gateway.domain.errors import Refused
from gateway.outbound.rules import SendRequest, send_message
from gateway.store.models import DeliveryRow, EventRow, IdempotencyRow, IdentityRow, MessageRow
from tests.api.conftest import OTHER_TOKEN, Api, hours_ago

STORED = (MessageRow, DeliveryRow, EventRow, IdempotencyRow)


async def counts(api: Api) -> dict[str, int]:
    return {model.__name__: await api.count(model) for model in STORED}


async def sms_conversation(api: Api, phone: str = "+15550002222") -> str:
    contact = await api.contact(("sms", phone))
    return str((await api.conversation_of(contact["id"]))["id"])


def text_body(conversation_id: str, text: str = "hi", **message: Any) -> dict[str, Any]:
    return {
        "conversationId": conversation_id,
        "message": {"content": {"basic": {"items": [{"text": text}]}}, **message},
    }


async def test_accepted_message_is_stored_pending_and_announced(api: Api) -> None:
    conversation_id = await sms_conversation(api)
    message = await api.send(conversation_id, "Your order shipped")
    assert message["sender"] == {"appId": "crm"}
    assert message["direction"] == "BUSINESS_TO_PARTICIPANT"
    assert message["visibility"] == "BUSINESS_AND_PARTICIPANT"
    assert message["sequence"] == "1"
    assert message["content"]["previewText"] == "Your order shipped"
    assert message["targetChannelIds"] == ["sms"]
    assert message["delivery"]["status"] == "PENDING"
    assert message["delivery"]["channelId"] == "sms"

    def stored(session: Session) -> tuple[DeliveryRow | None, list[EventRow]]:
        events = list(session.exec(select(EventRow).where(EventRow.entity_id == message["id"])))
        return session.get(DeliveryRow, message["id"]), events

    delivery, events = await api.gateway.db.read(stored)
    assert delivery is not None and delivery.recipient == "+15550002222"
    assert [e.slug for e in events] == ["message_sent_to_participant"]
    assert events[0].body["message"]["id"] == message["id"]


async def test_internal_note_is_stored_and_announced_but_never_delivered(api: Api) -> None:
    conversation_id = await sms_conversation(api)
    note = await api.send(conversation_id, "VIP customer", visibility="BUSINESS")
    assert "delivery" not in note and note["visibility"] == "BUSINESS"
    assert await api.count(DeliveryRow) == 0
    assert await api.count(MessageRow) == 1
    assert await api.count(EventRow) == 1


async def test_participant_to_business_record_is_not_delivered(api: Api) -> None:
    conversation_id = await sms_conversation(api)
    record = await api.send(conversation_id, "from the shop", direction="PARTICIPANT_TO_BUSINESS")
    assert record["direction"] == "PARTICIPANT_TO_BUSINESS" and "delivery" not in record
    assert await api.count(DeliveryRow) == 0


async def test_note_needs_no_reachable_channel(api: Api) -> None:
    contact = await api.contact(name="No address")
    conversation = await api.conversation_of(contact["id"])
    await api.send(conversation["id"], "called them by phone", visibility="BUSINESS")
    assert await api.count(MessageRow) == 1


async def test_web_chat_message_gets_a_delivery_row_too(api: Api) -> None:
    contact = await api.contact(("chat", "visitor-user-1"))
    conversation = await api.conversation_of(contact["id"])
    message = await api.send(conversation["id"], "hello")
    assert message["delivery"]["channelId"] == "chat"
    assert await api.count(DeliveryRow) == 1


async def test_target_channel_id_wins(api: Api) -> None:
    contact = await api.contact(("sms", "+15550002222"), ("chat", "u1"))
    conversation = await api.conversation_of(contact["id"])
    message = await api.send(conversation["id"], "hi", targetChannelIds=["sms"])
    assert message["delivery"]["channelId"] == "sms"


async def test_target_channel_type_picks_that_type(api: Api) -> None:
    contact = await api.contact(("sms", "+15550002222"), ("chat", "u1"))
    conversation = await api.conversation_of(contact["id"])
    message = await api.send(conversation["id"], "hi", targetChannels=["SMS"])
    assert message["delivery"]["channelId"] == "sms"


async def test_reply_goes_to_the_channel_of_the_latest_inbound_message(api: Api) -> None:
    contact = await api.contact(("sms", "+15550002222"), ("chat", "u1"))
    conversation = await api.conversation_of(contact["id"])
    await api.inbound(conversation["id"], "sms", "question by SMS")
    message = await api.send(conversation["id"], "answer")
    assert message["delivery"]["channelId"] == "sms"


async def test_without_inbound_the_most_recent_identity_is_used(api: Api) -> None:
    contact = await api.contact(("sms", "+15550002222"), ("chat", "u1"))
    conversation = await api.conversation_of(contact["id"])
    message = await api.send(conversation["id"], "hi")
    assert message["delivery"]["channelId"] == "chat"


async def assert_refused(
    api: Api, body: dict[str, Any], status: int, code: str, **kwargs: Any
) -> dict[str, Any]:
    before = await counts(api)
    answer = await api.call("POST", "/inbox/v2/messages", status=status, json=body, **kwargs)
    if status == 400:
        assert answer["message"] == "invalid request"
        assert answer["details"]["validationError"]["fieldViolations"]
    else:
        assert answer["details"]["applicationError"]["code"] == code
        assert answer["details"]["applicationError"]["description"]
    assert await counts(api) == before, "a refused message stores nothing"
    return answer


async def test_no_identity_at_all_is_no_reachable_channel(api: Api) -> None:
    contact = await api.contact(name="Nobody")
    conversation = await api.conversation_of(contact["id"])
    await assert_refused(api, text_body(conversation["id"]), 409, "NO_REACHABLE_CHANNEL")


async def test_target_channel_without_identity_is_no_reachable_channel(api: Api) -> None:
    conversation_id = await sms_conversation(api)
    body = text_body(conversation_id, targetChannelIds=["chat"])
    await assert_refused(api, body, 409, "NO_REACHABLE_CHANNEL")
    body = text_body(conversation_id, targetChannels=["FACEBOOK"])
    await assert_refused(api, body, 409, "NO_REACHABLE_CHANNEL")


@pytest.mark.parametrize(
    "kind",
    [{}, {"visibility": "BUSINESS"}, {"direction": "PARTICIPANT_TO_BUSINESS"}],
    ids=["message", "internal note", "participant's record"],
)
async def test_unconfigured_target_channel_is_invalid(api: Api, kind: dict[str, str]) -> None:
    conversation_id = await sms_conversation(api)
    answer = await assert_refused(
        api, text_body(conversation_id, targetChannelIds=["email"], **kind), 400, ""
    )
    violations = answer["details"]["validationError"]["fieldViolations"]
    assert violations[0]["field"] == "message.targetChannelIds.0"


async def test_opted_out_participant_is_refused(api: Api) -> None:
    conversation_id = await sms_conversation(api)

    def opt_out(session: Session) -> None:
        for identity in session.exec(select(IdentityRow)):
            identity.opted_out = True

    await api.gateway.db.write(opt_out)
    await assert_refused(api, text_body(conversation_id), 409, "PARTICIPANT_OPTED_OUT")


async def test_messenger_window_closes_after_24_hours(api: Api) -> None:
    contact = await api.contact(("fb", "psid-1"))
    conversation = await api.conversation_of(contact["id"])
    await api.inbound(conversation["id"], "fb", "hello", at=hours_ago(25))
    await assert_refused(api, text_body(conversation["id"]), 409, "OUTSIDE_MESSAGING_WINDOW")


async def test_messenger_window_open_within_24_hours(api: Api) -> None:
    contact = await api.contact(("fb", "psid-1"))
    conversation = await api.conversation_of(contact["id"])
    await api.inbound(conversation["id"], "fb", "hello", at=hours_ago(23))
    message = await api.send(conversation["id"], "hi back")
    assert message["delivery"]["channelId"] == "fb"


async def test_messenger_without_any_inbound_is_outside_the_window(api: Api) -> None:
    contact = await api.contact(("fb", "psid-1"))
    conversation = await api.conversation_of(contact["id"])
    await assert_refused(api, text_body(conversation["id"]), 409, "OUTSIDE_MESSAGING_WINDOW")


async def test_agents_get_the_seven_day_window_and_apps_do_not(api: Api) -> None:
    contact = await api.contact(("fb", "psid-1"))
    conversation = await api.conversation_of(contact["id"])
    await api.inbound(conversation["id"], "fb", "hello", at=hours_ago(48))
    request = SendRequest(conversation["id"], MessageContent.of_text("agent reply"))

    def as_sender(kind: str) -> Any:
        def write(session: Session) -> DeliveryRow | None:
            _, delivery = send_message(
                session, api.gateway.directory, request, sender=(kind, "alice"), now=now()
            )
            return delivery

        return write

    delivery = await api.gateway.db.write(as_sender("agentId"))
    assert delivery is not None and delivery.agent_window
    with pytest.raises(Refused) as refused:
        await api.gateway.db.write(as_sender("appId"))
    assert refused.value.code == "OUTSIDE_MESSAGING_WINDOW"


async def test_system_content_is_refused(api: Api) -> None:
    conversation_id = await sms_conversation(api)
    body = {"conversationId": conversation_id, "message": {"content": {"system": {"text": "x"}}}}
    answer = await assert_refused(api, body, 400, "")
    violations = answer["details"]["validationError"]["fieldViolations"]
    assert violations[0]["field"] == "message.content.system"


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"basic": {"items": [{"text": "x" * 4097}]}}, "message.content.basic.items.0.text"),
        ({"basic": {"items": [{"text": "x"}] * 21}}, "message.content.basic.items"),
        ({"basic": {"items": []}}, "message.content.basic.items"),
        (
            {
                "template": {
                    "title": "Pick",
                    "buttons": [{"label": "b", "launchUrl": "https://x.example"}] * 11,
                }
            },
            "message.content.template.buttons",
        ),
        ({"template": {"textLines": ["x" * 513]}}, "message.content.template.textLines.0"),
        ({"basic": {"items": [{"text": 5}]}}, "message.content.basic.items.0.text"),
        ({"basic": {"items": [{"text": "hi"}]}, "minimal": {"text": "x"}}, "message.content"),
        ({"basic": {"items": [{"txt": "hi"}]}}, "message.content.basic.items.0.txt"),
    ],
)
async def test_content_over_limits_or_malformed_is_a_400_naming_the_field(
    api: Api, content: dict[str, Any], field: str
) -> None:
    conversation_id = await sms_conversation(api)
    body = {"conversationId": conversation_id, "message": {"content": content}}
    answer = await assert_refused(api, body, 400, "")
    fields = [v["field"] for v in answer["details"]["validationError"]["fieldViolations"]]
    assert field in fields


@pytest.mark.parametrize("channel", ["sms", "fb", "chat"])
@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"basic": {"items": [{"text": "   "}]}}, "message.content.basic.items.0.text"),
        ({"minimal": {"text": "\u00a0\u3000"}}, "message.content.minimal.text"),
        (
            {"basic": {"items": [{"text": "See you"}, {"text": "\n\t"}]}},
            "message.content.basic.items.1.text",
        ),
    ],
    ids=["blank item", "blank minimal", "one blank item of two"],
)
async def test_text_that_is_only_whitespace_is_a_400_naming_the_field(
    api: Api, channel: str, content: dict[str, Any], field: str
) -> None:
    """It would show nothing: it was recorded SENT with nothing sent."""
    contact = await api.contact((channel, "+15550002222" if channel == "sms" else "someone"))
    conversation = await api.conversation_of(contact["id"])
    await api.inbound(conversation["id"], channel, "hello")  # the window is open
    for kind in ({}, {"visibility": "BUSINESS"}):
        body = {"conversationId": conversation["id"], "message": {"content": content, **kind}}
        answer = await assert_refused(api, body, 400, "")
        fields = [v["field"] for v in answer["details"]["validationError"]["fieldViolations"]]
        assert fields == [field]


async def test_wrong_types_and_missing_fields_are_400(api: Api) -> None:
    conversation_id = await sms_conversation(api)
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"conversationId": 5, "message": {"content": {"minimal": {"text": "x"}}}},
            "conversationId",
        ),
        ({"conversationId": conversation_id}, "message"),
        ({"conversationId": conversation_id, "message": {"content": "hi"}}, "message.content"),
        (
            {**text_body(conversation_id), "message": {"content": {}, "direction": "SIDEWAYS"}},
            "message.direction",
        ),
    ]
    for body, field in cases:
        answer = await assert_refused(api, body, 400, "")
        fields = [v["field"] for v in answer["details"]["validationError"]["fieldViolations"]]
        assert field in fields, answer


async def test_unknown_conversation_is_404(api: Api) -> None:
    await assert_refused(api, text_body("no-such-conversation"), 404, "CONVERSATION_NOT_FOUND")


async def test_same_idempotency_key_returns_the_first_message(api: Api) -> None:
    conversation_id = await sms_conversation(api)
    key = {"Idempotency-Key": "order-42-shipped"}
    first = await api.call(
        "POST", "/inbox/v2/messages", json=text_body(conversation_id), headers=key
    )
    before = await counts(api)
    again = await api.call(
        "POST", "/inbox/v2/messages", json=text_body(conversation_id, "other"), headers=key
    )
    assert again["message"]["id"] == first["message"]["id"]
    assert await counts(api) == before, "the repeat stores and sends nothing"
    assert before["MessageRow"] == 1 and before["EventRow"] == 1


async def test_concurrent_duplicates_store_one_message(api: Api) -> None:
    import asyncio

    conversation_id = await sms_conversation(api)
    key = {"Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *(
            api.call("POST", "/inbox/v2/messages", json=text_body(conversation_id), headers=key)
            for _ in range(5)
        )
    )
    assert len({a["message"]["id"] for a in answers}) == 1
    assert await api.count(MessageRow) == 1
    assert await api.count(DeliveryRow) == 1


async def test_idempotency_keys_are_per_token(api: Api) -> None:
    conversation_id = await sms_conversation(api)
    key = "same-key"
    first = await api.call(
        "POST",
        "/inbox/v2/messages",
        json=text_body(conversation_id),
        headers={"Idempotency-Key": key},
    )
    other = await api.call(
        "POST",
        "/inbox/v2/messages",
        json=text_body(conversation_id),
        headers={"Idempotency-Key": key, "Authorization": f"Bearer {OTHER_TOKEN}"},
    )
    assert other["message"]["id"] != first["message"]["id"]
    assert other["message"]["sender"] == {"appId": "shop"}
    assert await api.count(MessageRow) == 2


async def test_a_key_older_than_24_hours_sends_again(api: Api) -> None:
    conversation_id = await sms_conversation(api)
    key = {"Idempotency-Key": "old"}
    first = await api.call(
        "POST", "/inbox/v2/messages", json=text_body(conversation_id), headers=key
    )

    def age(session: Session) -> None:
        row = session.exec(select(IdempotencyRow)).one()
        row.created_at = hours_ago(25)

    await api.gateway.db.write(age)
    again = await api.call(
        "POST", "/inbox/v2/messages", json=text_body(conversation_id), headers=key
    )
    assert again["message"]["id"] != first["message"]["id"]
    assert await api.count(MessageRow) == 2
    assert await api.count(IdempotencyRow) == 1


async def test_sending_to_a_merged_away_conversation_lands_in_the_target(api: Api) -> None:
    a = await api.contact(("sms", "+15550002222"), name="A")
    b = await api.contact(("chat", "u-b"), name="B")
    old = await api.conversation_of(b["id"])
    await api.send(old["id"], "before merge", targetChannelIds=["chat"])
    await api.conversation_of(a["id"])
    await api.call(
        "POST", f"/inbox/v2/contacts/{a['id']}/merge", json={"sourceContactIds": [b["id"]]}
    )
    message = await api.send(old["id"], "after merge", targetChannelIds=["sms"])
    assert message["conversationId"] != old["id"]
    assert message["sequence"] == "2"


def test_send_request_defaults_go_out() -> None:
    """Defaults: business to participant, visible to both, so it is delivered."""
    request = SendRequest("c", MessageContent.of_text("x"))
    assert request.goes_out and request.direction is Direction.BUSINESS_TO_PARTICIPANT
