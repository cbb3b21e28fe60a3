"""The Messenger webhook: verification, signatures, and every event kind Meta sends (case tables,
plus what one POST of many events must do)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from channels import (
    DeliveryStatus,
    Direction,
    InboundEvent,
    InboundMessage,
    IngestOutcome,
    StatusUpdate,
    WebhookResponse,
)
from channels.testing import (
    RecordingHost,
    WebhookCase,
    check_webhook_case,
    parametrize_cases,
)
from tests.adapters.messenger_support import (
    DELIVERY,
    ECHO_OUR_APP,
    ECHO_PAGE_INBOX,
    IMAGE,
    MEDIA,
    OUR_APP,
    PAGE,
    POSTBACK,
    POSTBACK_NO_MID,
    PSID,
    QUICK_REPLY,
    REACTION,
    READ,
    STANDBY,
    TEXT,
    VERIFY,
    adapter,
    host,
    post,
    sign,
    verification,
)


def message(events: Sequence[InboundEvent]) -> InboundMessage:
    [event] = events
    assert isinstance(event, InboundMessage)
    return event


def items(events: Sequence[InboundEvent]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = message(events).content.wire()["basic"]["items"]
    return found


def with_event(body: bytes, change: Any) -> bytes:
    """A recorded body with its first event changed by `change(event, payload)`."""
    payload = json.loads(body)
    change(payload["entry"][0]["messaging"][0], payload)
    return json.dumps(payload).encode()


def the_text(response: WebhookResponse, events: Sequence[InboundEvent]) -> None:
    text = message(events)
    assert text.provider_message_id == "m_AAAtext1"
    assert text.participant.address == PSID
    assert text.participant.display_name is None
    assert text.content.wire() == {"basic": {"items": [{"text": "Is the café open?"}]}}
    assert text.direction is Direction.PARTICIPANT_TO_BUSINESS
    assert text.occurred_at == datetime.fromtimestamp(1732680000.011, tz=UTC)
    assert text.interaction_id is None


def every_attachment(response: WebhookResponse, events: Sequence[InboundEvent]) -> None:
    audio, video, file, sticker, fallback = items(events)
    assert audio["file"]["mimeType"] == "audio/mp4"
    assert audio["file"]["filename"] == "audioclip-1732680000.mp4"
    assert video["file"] == {
        "url": "https://video.xx.fbcdn.net/v/clip.mp4?x=1",
        "filename": "clip.mp4",
        "mimeType": "video/mp4",
    }
    assert file["file"]["mimeType"] == "application/pdf"
    assert sticker == {"image": {"url": "https://scontent.xx.fbcdn.net/v/sticker.png"}}
    assert fallback == {"text": "Our menu https://shop.example.com/menu"}


def page_inbox_echo(response: WebhookResponse, events: Sequence[InboundEvent]) -> None:
    echo = message(events)
    assert echo.direction is Direction.BUSINESS_TO_PARTICIPANT
    assert echo.participant.address == PSID  # the person, not the Page
    assert echo.echo_app_id == "263902037430900"
    assert echo.provider_message_id == "m_AAAecho1"


def interaction(mid: str, interaction_id: str, text: str) -> Any:
    def check(response: WebhookResponse, events: Sequence[InboundEvent]) -> None:
        pressed = message(events)
        assert (pressed.provider_message_id, pressed.interaction_id) == (mid, interaction_id)
        assert pressed.content.wire() == {"basic": {"items": [{"text": text}]}}
        assert pressed.participant.address == PSID

    return check


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


ACCEPTED = {"status": 200, "body_contains": "EVENT_RECEIVED"}
REFUSED = {"status": 403, "event_count": 0}
CHALLENGE = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}

VERIFICATION = [
    WebhookCase(
        "the right verify token gets the challenge back",
        verification(CHALLENGE),
        body_contains="1158201444",
        content_type="text/plain",
    ),
    *[
        WebhookCase(
            f"verification {name} is refused without the challenge",
            verification(query),
            status=403,
            check=lambda response, _: "1158201444" not in str(response.body),
        )
        for name, query in [
            ("with a wrong token", {**CHALLENGE, "hub.verify_token": "guess"}),
            ("to unsubscribe", {**CHALLENGE, "hub.mode": "unsubscribe"}),
            ("without mode or token", {"hub.challenge": "1158201444"}),
        ]
    ],
]

EVENTS = [
    *[
        WebhookCase(f"a {name} signature is refused", post(TEXT, signature=signature), **REFUSED)
        for name, signature in [
            ("missing", None),
            ("empty", ""),
            ("zero", "sha256=" + "0" * 64),
            ("another secret's", sign(TEXT, "another-secret")),
            ("SHA-1", "sha1=abc"),
        ]
    ],
    WebhookCase(
        "a signature over re-serialised JSON does not pass (Meta signs its escaped bytes)",
        post(TEXT, signature=sign(json.dumps(json.loads(TEXT), ensure_ascii=False).encode())),
        **REFUSED,
    ),
    *[
        WebhookCase(f"a {name} body is refused", post(body), status=400, event_count=0)
        for name, body in [
            ("broken JSON", b"{not json"),
            ("binary", b"\xff\xfe"),
            ("list", b"[]"),
            ("Instagram", b'{"object":"instagram","entry":[]}'),
            ("objectless", b'{"entry":[]}'),
            ("non-list entry", b'{"object":"page","entry":{"id":"x"}}'),
        ]
    ],
    WebhookCase(
        "a text message is stored as basic text from the PSID",
        post(TEXT),
        **ACCEPTED,
        check=the_text,
    ),
    WebhookCase(
        "an image attachment becomes an image item",
        post(IMAGE),
        check=lambda r, events: (
            items(events)
            == [
                {"image": {"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo_n.jpg?stp=dst"}}
            ]
        ),
    ),
    WebhookCase(
        "audio, video, file, sticker and fallback attachments are all kept",
        post(MEDIA),
        check=every_attachment,
    ),
    WebhookCase(
        "a quick reply carries its payload as the interaction",
        post(QUICK_REPLY),
        check=interaction("m_AAAqr1", "slot-tomorrow", "Tomorrow"),
    ),
    WebhookCase(
        "a postback is a message with its title and interaction",
        post(POSTBACK),
        check=interaction("m_AAApb1", "track-42", "Track my order"),
    ),
    WebhookCase(
        "a delivery updates each mid and the watermark",
        post(DELIVERY),
        events=[
            StatusUpdate(status=DeliveryStatus.DELIVERED, provider_message_id="m_ours1"),
            StatusUpdate(status=DeliveryStatus.DELIVERED, provider_message_id="m_ours2"),
            StatusUpdate(
                status=DeliveryStatus.DELIVERED,
                participant_address=PSID,
                watermark=at(1732680003.5),
            ),
        ],
    ),
    WebhookCase(
        "a read watermark marks messages to that person read",
        post(READ),
        events=[
            StatusUpdate(
                status=DeliveryStatus.READ, participant_address=PSID, watermark=at(1732680004.5)
            )
        ],
    ),
    WebhookCase(
        "an echo from the Page's inbox is a business message to the person",
        post(ECHO_PAGE_INBOX),
        check=page_inbox_echo,
    ),
    WebhookCase(
        "an echo of our own app is dropped when app_id is configured",
        post(ECHO_OUR_APP),
        **ACCEPTED,
        event_count=0,
    ),
    WebhookCase(
        "a reaction is acknowledged and ignored", post(REACTION), **ACCEPTED, event_count=0
    ),
    WebhookCase(
        "a standby event is acknowledged and ignored", post(STANDBY), **ACCEPTED, event_count=0
    ),
    WebhookCase(
        "entries of another Page are acknowledged and ignored",
        post(TEXT.replace(PAGE.encode(), b"999999999")),
        **ACCEPTED,
        event_count=0,
    ),
    WebhookCase(
        "a very long text is kept whole across items",
        post(with_event(TEXT, lambda event, _: event["message"].update(text="x" * 5000))),
        check=lambda r, events: "".join(i["text"] for i in items(events)) == "x" * 5000,
    ),
    WebhookCase(
        "an event without its sender is skipped, not fatal",
        post(
            with_event(
                TEXT,
                lambda event, body: (
                    event.pop("sender"),
                    body["entry"].append(json.loads(READ)["entry"][0]),
                ),
            )
        ),
        event_types=[StatusUpdate],
    ),
]


@parametrize_cases(VERIFICATION)
async def test_verification(case: WebhookCase) -> None:
    recording = host()
    await check_webhook_case(adapter(recording), recording, case)


@parametrize_cases(EVENTS)
async def test_webhook_event(case: WebhookCase) -> None:
    recording = host()
    await check_webhook_case(adapter(recording), recording, case)


async def test_without_app_id_our_echo_goes_to_the_gateway_with_its_app_id() -> None:
    """The gateway then recognises it by the mid it stored when sending."""
    recording = host()
    case = WebhookCase(
        "our echo",
        post(ECHO_OUR_APP),
        check=lambda r, events: (
            message(events).echo_app_id == OUR_APP
            and message(events).direction is Direction.BUSINESS_TO_PARTICIPANT
        ),
    )
    await check_webhook_case(adapter(recording, app_id=""), recording, case)


async def test_a_postback_without_mid_gets_an_id_stable_across_retries() -> None:
    recording = host()
    messenger = adapter(recording)
    for _ in range(2):
        await check_webhook_case(messenger, recording, WebhookCase("no mid", post(POSTBACK_NO_MID)))
    [stored] = recording.events
    assert isinstance(stored, InboundMessage)
    assert stored.provider_message_id.startswith("postback-")
    assert stored.interaction_id == "GET_STARTED"


class CountingHost(RecordingHost):
    """A RecordingHost that also counts ingest calls."""

    calls: int = 0

    async def ingest(self, events: Sequence[InboundEvent]) -> list[IngestOutcome]:
        self.calls += 1
        return await super().ingest(events)


async def test_all_entries_and_events_of_one_post_go_in_one_ingest() -> None:
    bodies = [TEXT, QUICK_REPLY, DELIVERY, READ, REACTION]
    entries = [entry for b in bodies for entry in json.loads(b)["entry"]]
    # Meta batches entries, and a messaging array may also hold several events.
    entries[0]["messaging"].append(json.loads(POSTBACK)["entry"][0]["messaging"][0])
    body = json.dumps({"object": "page", "entry": entries}).encode()
    recording = CountingHost(channel_id="facebook")
    await check_webhook_case(adapter(recording), recording, WebhookCase("batch", post(body)))
    assert recording.calls == 1
    kinds = [
        e.status.value if isinstance(e, StatusUpdate) else getattr(e, "provider_message_id", "")
        for e in recording.events
    ]
    assert kinds == [
        "m_AAAtext1",
        "m_AAApb1",
        "m_AAAqr1",
        "DELIVERED",
        "DELIVERED",
        "DELIVERED",
        "READ",
    ]


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64])
async def test_a_refused_post_never_calls_ingest(signature: str | None) -> None:
    recording = CountingHost(channel_id="facebook")
    case = WebhookCase("refused", post(TEXT, signature=signature), status=403)
    await check_webhook_case(adapter(recording), recording, case)
    assert recording.calls == 0


@pytest.mark.parametrize("path", ["/v/clip%00.mp4", "/v/%00.pdf"])
def test_an_attachment_url_whose_name_no_database_keeps_has_no_filename(path: str) -> None:
    """Unquoted, `%00` became a NUL in the filename, and the gateway refused the whole batch."""
    from adapters.messenger.inbound import parse_payload
    from channels import holds_unstorable

    url = "https://video.xx.fbcdn.net" + path
    event = {
        "sender": {"id": "psid-1"},
        "recipient": {"id": "1234"},
        "timestamp": 1732680000000,
        "message": {"mid": "m.1", "attachments": [{"type": "video", "payload": {"url": url}}]},
    }
    payload = {"object": "page", "entry": [{"id": "1234", "time": 1, "messaging": [event]}]}
    [message] = parse_payload(payload, page_id="1234")
    assert isinstance(message, InboundMessage)
    [item] = message.content.wire()["basic"]["items"]
    assert item["file"]["url"] == url and "filename" not in item["file"]
    assert not holds_unstorable([message])


def test_a_timestamp_in_the_future_is_taken_as_the_time_received() -> None:
    """Year 9999 pinned the conversation atop the inbox and kept its 24 h window open."""
    from adapters.messenger.fake import message_event
    from adapters.messenger.inbound import parse_event

    before = datetime.now(UTC)
    [ahead] = parse_event(message_event("psid-1", "hi", timestamp=253402300799000))
    [skewed] = parse_event(
        message_event("psid-1", "hi", timestamp=int(before.timestamp() * 1000) + 60_000)
    )
    assert isinstance(ahead, InboundMessage) and isinstance(skewed, InboundMessage)
    assert before <= ahead.occurred_at <= datetime.now(UTC)
    # a clock a minute ahead of ours is believed
    assert skewed.occurred_at.timestamp() == pytest.approx(before.timestamp() + 60, abs=0.01)
