"""The Messenger webhook: verification, signatures, and every event kind Meta sends."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from adapters.messenger import MessengerAdapter, MessengerConfig
from channels import (
    DeliveryStatus,
    Direction,
    InboundEvent,
    InboundMessage,
    IngestOutcome,
    StatusUpdate,
    WebhookRequest,
    WebhookResponse,
)
from channels.testing import RecordingHost, json_request

PAGE = "104060582475931"
PSID = "6847213315330411"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OUR_APP = "1179204669887413"

# Recorded shapes of Meta's webhook bodies (ids replaced), as bytes exactly as sent:
# Meta escapes non-ASCII characters, which the signature covers.
TEXT = (
    b'{"object":"page","entry":[{"time":1732680000123,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680000011,"message":{"mid":"m_AAAtext1",'
    b'"text":"Is the caf\\u00e9 open?"}}]}]}'
)
IMAGE = (
    b'{"object":"page","entry":[{"time":1732680001000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680000999,"message":{"mid":"m_AAAimage1","attachments":[{"type":"image",'
    b'"payload":{"url":"https:\\/\\/scontent.xx.fbcdn.net\\/v\\/t1.15752-9\\/photo_n.jpg?stp=dst"}}]}}]}]}'
)
MEDIA = (
    b'{"object":"page","entry":[{"time":1732680001000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680000999,"message":{"mid":"m_AAAmedia1","attachments":['
    b'{"type":"audio","payload":{"url":"https:\\/\\/cdn.fbsbx.com\\/v\\/t59.3654-21\\/'
    b'audioclip-1732680000.mp4?_nc_cat=1"}},'
    b'{"type":"video","payload":{"url":"https:\\/\\/video.xx.fbcdn.net\\/v\\/clip.mp4?x=1"}},'
    b'{"type":"file","payload":{"url":"https:\\/\\/cdn.fbsbx.com\\/v\\/t59\\/invoice.pdf?x=1"}},'
    b'{"type":"image","payload":{"url":"https:\\/\\/scontent.xx.fbcdn.net\\/v\\/sticker.png",'
    b'"sticker_id":369239263222822}},'
    b'{"type":"fallback","title":"Our menu","url":"https:\\/\\/shop.example.com\\/menu",'
    b'"payload":null}]}}]}]}'
)
QUICK_REPLY = (
    b'{"object":"page","entry":[{"time":1732680002000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680001999,"message":{"mid":"m_AAAqr1","text":"Tomorrow",'
    b'"quick_reply":{"payload":"slot-tomorrow"}}}]}]}'
)
POSTBACK = (
    b'{"object":"page","entry":[{"time":1732680003000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680002999,"postback":{"title":"Track my order","payload":"track-42",'
    b'"mid":"m_AAApb1"}}]}]}'
)
POSTBACK_NO_MID = (
    b'{"object":"page","entry":[{"time":1732680003000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680002999,"postback":{"title":"Get Started","payload":"GET_STARTED"}}]}]}'
)
DELIVERY = (
    b'{"object":"page","entry":[{"time":1732680004000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680003999,"delivery":{"mids":["m_ours1","m_ours2"],'
    b'"watermark":1732680003500}}]}]}'
)
READ = (
    b'{"object":"page","entry":[{"time":1732680005000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680004999,"read":{"watermark":1732680004500}}]}]}'
)
ECHO_PAGE_INBOX = (
    b'{"object":"page","entry":[{"time":1732680006000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"104060582475931"},"recipient":{"id":"6847213315330411"},'
    b'"timestamp":1732680005999,"message":{"mid":"m_AAAecho1","is_echo":true,'
    b'"text":"Yes, until 6pm","app_id":263902037430900}}]}]}'
)
ECHO_OUR_APP = (
    b'{"object":"page","entry":[{"time":1732680007000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"104060582475931"},"recipient":{"id":"6847213315330411"},'
    b'"timestamp":1732680006999,"message":{"mid":"m_AAAecho2","is_echo":true,'
    b'"text":"Sent through the gateway","app_id":1179204669887413}}]}]}'
)
REACTION = (
    b'{"object":"page","entry":[{"time":1732680008000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680007999,"reaction":{"reaction":"love","emoji":"\\u2764\\ufe0f",'
    b'"action":"react","mid":"m_ours1"}}]}]}'
)
STANDBY = (
    b'{"object":"page","entry":[{"time":1732680009000,"id":"104060582475931","standby":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680008999,"message":{"mid":"m_AAAstandby","text":"to the other app"}}]}]}'
)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(body: bytes, signature: str | None = "auto") -> WebhookRequest:
    headers = (
        {}
        if signature is None
        else {"X-Hub-Signature-256": sign(body) if signature == "auto" else signature}
    )
    return json_request("/channels/facebook/webhook", body, headers=headers)


class CountingHost(RecordingHost):
    """A RecordingHost that also counts ingest calls."""

    calls: int = 0

    async def ingest(self, events: Sequence[InboundEvent]) -> list[IngestOutcome]:
        self.calls += 1
        return await super().ingest(events)


@pytest.fixture
def host() -> CountingHost:
    return CountingHost(channel_id="facebook")


def make(host: RecordingHost, **overrides: object) -> MessengerAdapter:
    config = MessengerConfig(
        type="messenger",
        page_id=PAGE,
        page_access_token="page-token",
        app_secret=SECRET,
        verify_token="let-me-in",
        **overrides,
    )
    return MessengerAdapter("facebook", config, host)


async def receive(adapter: MessengerAdapter, request: WebhookRequest) -> WebhookResponse:
    return await adapter.receive(request)


def only_message(host: RecordingHost) -> InboundMessage:
    [event] = host.events
    assert isinstance(event, InboundMessage)
    return event


# --- verification ----------------------------------------------------------------------


async def verify(adapter: MessengerAdapter, query: dict[str, str]) -> WebhookResponse:
    request = json_request("/channels/facebook/webhook", b"", method="GET", query=query)
    return await adapter.verify(request)


async def test_verification_with_the_right_token_echoes_the_challenge(host: CountingHost) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": "let-me-in",
        "hub.challenge": "1158201444",
    }
    answer = await verify(make(host), query)
    assert (answer.status, answer.body) == (200, "1158201444")
    assert answer.content_type == "text/plain"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "let-me-in", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
async def test_verification_with_a_wrong_token_or_mode_is_refused(
    host: CountingHost, query: dict[str, str]
) -> None:
    answer = await verify(make(host), query)
    assert answer.status == 403
    assert answer.body not in ("1", b"1")


# --- rejections --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=" + "0" * 64, sign(TEXT, "another-secret"), "sha1=abc"],
    ids=["missing", "empty", "zeros", "other-secret", "sha1"],
)
async def test_a_bad_or_missing_signature_is_refused_and_nothing_stored(
    host: CountingHost, signature: str | None
) -> None:
    answer = await receive(make(host), post(TEXT, signature=signature))
    assert answer.status == 403
    assert host.events == [] and host.calls == 0


async def test_a_signature_over_reserialised_json_does_not_pass(host: CountingHost) -> None:
    """Meta signs its escaped bytes; a signature of the same JSON re-encoded must not match."""
    reencoded = json.dumps(json.loads(TEXT), ensure_ascii=False).encode()
    answer = await receive(make(host), post(TEXT, signature=sign(reencoded)))
    assert answer.status == 403 and host.calls == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"object":"instagram","entry":[]}',
        b'{"entry":[]}',
        b'{"object":"page","entry":{"id":"x"}}',
    ],
    ids=["broken", "bytes", "list", "instagram", "no-object", "entry-not-list"],
)
async def test_malformed_or_foreign_bodies_get_400_and_nothing_stored(
    host: CountingHost, body: bytes
) -> None:
    answer = await receive(make(host), post(body))
    assert answer.status == 400
    assert host.calls == 0


# --- event kinds ---------------------------------------------------------------------------


async def test_a_text_message_is_stored_as_basic_text_from_the_psid(host: CountingHost) -> None:
    answer = await receive(make(host), post(TEXT))
    assert (answer.status, answer.body) == (200, "EVENT_RECEIVED")
    message = only_message(host)
    assert message.provider_message_id == "m_AAAtext1"
    assert message.participant.address == PSID
    assert message.participant.display_name is None
    assert message.content.wire() == {"basic": {"items": [{"text": "Is the café open?"}]}}
    assert message.direction is Direction.PARTICIPANT_TO_BUSINESS
    assert message.occurred_at == datetime.fromtimestamp(1732680000.011, tz=UTC)
    assert message.interaction_id is None


async def test_an_image_attachment_becomes_an_image_item(host: CountingHost) -> None:
    await receive(make(host), post(IMAGE))
    items = only_message(host).content.wire()["basic"]["items"]
    assert items == [
        {"image": {"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo_n.jpg?stp=dst"}}
    ]


async def test_audio_video_file_sticker_and_fallback_attachments_are_all_kept(
    host: CountingHost,
) -> None:
    await receive(make(host), post(MEDIA))
    items = only_message(host).content.wire()["basic"]["items"]
    assert items[0]["file"]["mimeType"] == "audio/mp4"
    assert items[0]["file"]["filename"] == "audioclip-1732680000.mp4"
    assert items[1]["file"] == {
        "url": "https://video.xx.fbcdn.net/v/clip.mp4?x=1",
        "filename": "clip.mp4",
        "mimeType": "video/mp4",
    }
    assert items[2]["file"]["mimeType"] == "application/pdf"
    assert items[3] == {"image": {"url": "https://scontent.xx.fbcdn.net/v/sticker.png"}}
    assert items[4] == {"text": "Our menu https://shop.example.com/menu"}


async def test_a_quick_reply_carries_its_payload_as_interaction(host: CountingHost) -> None:
    await receive(make(host), post(QUICK_REPLY))
    message = only_message(host)
    assert message.interaction_id == "slot-tomorrow"
    assert message.content.wire() == {"basic": {"items": [{"text": "Tomorrow"}]}}


async def test_a_postback_is_a_message_with_its_title_and_interaction(host: CountingHost) -> None:
    await receive(make(host), post(POSTBACK))
    message = only_message(host)
    assert message.provider_message_id == "m_AAApb1"
    assert message.interaction_id == "track-42"
    assert message.content.wire() == {"basic": {"items": [{"text": "Track my order"}]}}
    assert message.participant.address == PSID


async def test_a_postback_without_mid_gets_an_id_stable_across_retries(
    host: CountingHost,
) -> None:
    adapter = make(host)
    await receive(adapter, post(POSTBACK_NO_MID))
    await receive(adapter, post(POSTBACK_NO_MID))
    message = only_message(host)
    assert message.provider_message_id.startswith("postback-")
    assert message.interaction_id == "GET_STARTED"


async def test_a_delivery_updates_each_mid_and_the_watermark(host: CountingHost) -> None:
    await receive(make(host), post(DELIVERY))
    assert host.events == [
        StatusUpdate(status=DeliveryStatus.DELIVERED, provider_message_id="m_ours1"),
        StatusUpdate(status=DeliveryStatus.DELIVERED, provider_message_id="m_ours2"),
        StatusUpdate(
            status=DeliveryStatus.DELIVERED,
            participant_address=PSID,
            watermark=datetime.fromtimestamp(1732680003.5, tz=UTC),
        ),
    ]


async def test_a_read_watermark_marks_messages_to_that_person_read(host: CountingHost) -> None:
    await receive(make(host), post(READ))
    assert host.events == [
        StatusUpdate(
            status=DeliveryStatus.READ,
            participant_address=PSID,
            watermark=datetime.fromtimestamp(1732680004.5, tz=UTC),
        )
    ]


async def test_an_echo_from_the_page_inbox_is_a_business_message_to_the_recipient(
    host: CountingHost,
) -> None:
    await receive(make(host, app_id=OUR_APP), post(ECHO_PAGE_INBOX))
    message = only_message(host)
    assert message.direction is Direction.BUSINESS_TO_PARTICIPANT
    assert message.participant.address == PSID  # the person, not the Page
    assert message.echo_app_id == "263902037430900"
    assert message.provider_message_id == "m_AAAecho1"


async def test_an_echo_of_our_own_app_is_dropped_when_app_id_is_configured(
    host: CountingHost,
) -> None:
    answer = await receive(make(host, app_id=OUR_APP), post(ECHO_OUR_APP))
    assert answer.status == 200
    assert host.events == []


async def test_without_app_id_our_echo_goes_to_the_gateway_with_its_app_id(
    host: CountingHost,
) -> None:
    """The gateway then recognises it by the mid it stored when sending."""
    await receive(make(host), post(ECHO_OUR_APP))
    message = only_message(host)
    assert message.echo_app_id == OUR_APP
    assert message.direction is Direction.BUSINESS_TO_PARTICIPANT


async def test_reactions_and_standby_events_are_acknowledged_and_ignored(
    host: CountingHost,
) -> None:
    adapter = make(host)
    for body in (REACTION, STANDBY):
        answer = await receive(adapter, post(body))
        assert (answer.status, answer.body) == (200, "EVENT_RECEIVED")
    assert host.events == []


async def test_entries_of_another_page_are_ignored(host: CountingHost) -> None:
    answer = await receive(make(host), post(TEXT.replace(PAGE.encode(), b"999999999")))
    assert answer.status == 200 and host.events == []


async def test_all_entries_and_events_of_one_post_go_in_one_ingest(host: CountingHost) -> None:
    bodies = [TEXT, QUICK_REPLY, DELIVERY, READ, REACTION]
    entries = [entry for b in bodies for entry in json.loads(b)["entry"]]
    # Meta batches entries, and a messaging array may also hold several events.
    entries[0]["messaging"].append(json.loads(POSTBACK)["entry"][0]["messaging"][0])
    body = json.dumps({"object": "page", "entry": entries}).encode()
    answer = await receive(make(host), post(body))
    assert answer.status == 200
    assert host.calls == 1
    kinds = [
        e.status.value if isinstance(e, StatusUpdate) else getattr(e, "provider_message_id", "")
        for e in host.events
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


async def test_a_retried_webhook_stores_its_message_once(host: CountingHost) -> None:
    adapter = make(host)
    for _ in range(2):
        answer = await receive(adapter, post(TEXT))
        assert answer.status == 200
    assert len(host.stored_messages[PSID]) == 1


async def test_a_very_long_text_is_kept_whole_across_items(host: CountingHost) -> None:
    event = json.loads(TEXT)
    event["entry"][0]["messaging"][0]["message"]["text"] = "x" * 5000
    await receive(make(host), post(json.dumps(event).encode()))
    items = only_message(host).content.wire()["basic"]["items"]
    assert "".join(i["text"] for i in items) == "x" * 5000


async def test_events_missing_their_sender_are_skipped_not_fatal(host: CountingHost) -> None:
    event = json.loads(TEXT)
    del event["entry"][0]["messaging"][0]["sender"]
    event["entry"].append(json.loads(READ)["entry"][0])
    answer = await receive(make(host), post(json.dumps(event).encode()))
    assert answer.status == 200
    assert [type(e).__name__ for e in host.events] == ["StatusUpdate"]
