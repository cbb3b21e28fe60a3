"""The Twilio inbound webhook: signatures, parsing, opt-outs, duplicates."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from adapters.twilio import TwilioAdapter, TwilioConfig
from adapters.twilio.signature import is_signed, sign
from channels import InboundMessage, OptChange, WebhookRequest, WebhookResponse
from channels.testing import RecordingHost, form_request

SID = "AC" + "a1" * 16
TOKEN = "inbound-test-token"
PUBLIC = "https://inbox.example.com"
PATH = "/channels/sms/inbound"
MSG_SID = "SM" + "5e" * 16


def recorded_sms(**changes: str) -> list[tuple[str, str]]:
    """A real inbound SMS capture (field order as Twilio sends it), with changes applied."""
    fields = [
        ("ToCountry", "US"),
        ("ToState", ""),
        ("SmsMessageSid", MSG_SID),
        ("NumMedia", "0"),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", MSG_SID),
        ("FromState", ""),
        ("SmsStatus", "received"),
        ("FromCity", ""),
        ("Body", "Is my order ready?"),
        ("FromCountry", "US"),
        ("To", "+15550001111"),
        ("ToZip", ""),
        ("NumSegments", "1"),
        ("MessageSid", MSG_SID),
        ("AccountSid", SID),
        ("From", "+15550002222"),
        ("ApiVersion", "2010-04-01"),
    ]
    out = [(k, changes.pop(k, v)) for k, v in fields]
    return out + list(changes.items())


def signed(
    fields: Sequence[tuple[str, str]], path: str = PATH, token: str = TOKEN
) -> WebhookRequest:
    signature = sign(token, PUBLIC + path, dict(fields))
    return form_request(path, fields, public_url=PUBLIC, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def host() -> RecordingHost:
    return RecordingHost(channel_id="sms", public_url=PUBLIC)


@pytest.fixture
def adapter(host: RecordingHost) -> TwilioAdapter:
    config = TwilioConfig(
        type="twilio", account_sid=SID, auth_token=TOKEN, from_number="+15550001111"
    )
    return TwilioAdapter("sms", config, host)


async def inbound(adapter: TwilioAdapter, request: WebhookRequest) -> WebhookResponse:
    return await adapter.handle_inbound(request)


def test_routes_are_inbound_and_status(adapter: TwilioAdapter) -> None:
    """Twilio is pointed at /channels/<id>/inbound and /channels/<id>/status."""
    assert {(r.method, r.path) for r in adapter.routes()} == {
        ("POST", "inbound"),
        ("POST", "status"),
    }


def messages(host: RecordingHost) -> list[InboundMessage]:
    return [e for e in host.events if isinstance(e, InboundMessage)]


async def test_sms_is_stored_and_answered_with_empty_twiml(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    response = await inbound(adapter, signed(recorded_sms()))
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert "<Response />" in str(response.body)
    [message] = messages(host)
    assert message.provider_message_id == MSG_SID
    assert message.participant.address == "+15550002222"
    assert message.participant.display_name == "+1 555-000-2222"
    assert message.content.wire() == {"basic": {"items": [{"text": "Is my order ready?"}]}}


async def test_mms_with_two_media_becomes_text_image_and_file_items(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    base = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM1/Media"
    fields = recorded_sms(
        NumMedia="2",
        Body="Photo and invoice",
        MediaContentType0="image/jpeg",
        MediaUrl0=f"{base}/ME1",
        MediaContentType1="application/pdf",
        MediaUrl1=f"{base}/ME2",
    )
    assert (await inbound(adapter, signed(fields))).status == 200
    [message] = messages(host)
    items = message.content.wire()["basic"]["items"]
    assert items[0] == {"text": "Photo and invoice"}
    assert items[1] == {"image": {"url": f"{base}/ME1"}}
    assert items[2]["file"]["url"] == f"{base}/ME2"
    assert items[2]["file"]["mimeType"] == "application/pdf"
    assert items[2]["file"]["filename"].endswith(".pdf")


async def test_media_without_body_has_only_media_items(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    fields = recorded_sms(
        Body="", NumMedia="1", MediaContentType0="image/png", MediaUrl0="https://x.test/ME9"
    )
    await inbound(adapter, signed(fields))
    assert messages(host)[0].content.wire()["basic"]["items"] == [
        {"image": {"url": "https://x.test/ME9"}}
    ]


async def test_empty_message_is_still_stored(adapter: TwilioAdapter, host: RecordingHost) -> None:
    assert (await inbound(adapter, signed(recorded_sms(Body="")))).status == 200
    assert messages(host)[0].content.wire()["basic"]["items"] == [{"text": "(empty message)"}]


@pytest.mark.parametrize("word", ["STOP", "stop", "  Unsubscribe ", "OptOut", "stopall", "QUIT"])
async def test_opt_out_word_stores_message_and_opts_out(
    adapter: TwilioAdapter, host: RecordingHost, word: str
) -> None:
    await inbound(adapter, signed(recorded_sms(Body=word)))
    message, change = host.events
    assert isinstance(message, InboundMessage)
    assert isinstance(change, OptChange)
    assert change.opted_out is True
    assert change.keyword == word.strip().upper()
    assert change.participant.address == "+15550002222"


@pytest.mark.parametrize("word", ["START", "yes", "unstop"])
async def test_opt_in_word_opts_back_in(
    adapter: TwilioAdapter, host: RecordingHost, word: str
) -> None:
    await inbound(adapter, signed(recorded_sms(Body=word)))
    change = host.events[-1]
    assert isinstance(change, OptChange)
    assert change.opted_out is False


async def test_opt_out_word_inside_a_sentence_is_just_a_message(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    await inbound(adapter, signed(recorded_sms(Body="please stop by tomorrow")))
    assert [type(e) for e in host.events] == [InboundMessage]


async def test_unknown_extra_fields_are_accepted_and_signed(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    fields = recorded_sms(MessagingServiceSid="MG" + "0" * 32, AddOns='{"status":"successful"}')
    assert (await inbound(adapter, signed(fields))).status == 200
    assert len(messages(host)) == 1


async def test_same_message_sid_twice_is_stored_once(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    first = await inbound(adapter, signed(recorded_sms()))
    again = await inbound(adapter, signed(recorded_sms()))
    assert first.status == again.status == 200
    assert len(messages(host)) == 1
    assert len(host.stored_messages["+15550002222"]) == 1


async def test_bad_signature_is_refused_and_nothing_stored(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    response = await inbound(adapter, signed(recorded_sms(), token="someone-elses-token"))
    assert response.status == 403
    assert host.events == []


async def test_tampered_body_is_refused(adapter: TwilioAdapter, host: RecordingHost) -> None:
    good = signed(recorded_sms())
    signature = good.header("x-twilio-signature") or ""
    tampered = form_request(
        PATH,
        recorded_sms(Body="Send me a refund"),
        public_url=PUBLIC,
        headers={"X-Twilio-Signature": signature},
    )
    assert (await inbound(adapter, tampered)).status == 403
    assert host.events == []


async def test_signature_for_another_url_is_refused(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    request = signed(recorded_sms(), path="/channels/other/inbound")
    moved = form_request(PATH, recorded_sms(), public_url=PUBLIC, headers=dict(request.headers))
    assert (await inbound(adapter, moved)).status == 403
    assert host.events == []


async def test_missing_signature_is_refused(adapter: TwilioAdapter, host: RecordingHost) -> None:
    response = await inbound(adapter, form_request(PATH, recorded_sms(), public_url=PUBLIC))
    assert response.status == 403
    assert host.events == []


async def test_other_account_is_refused_even_when_signed(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    response = await inbound(adapter, signed(recorded_sms(AccountSid="AC" + "ff" * 16)))
    assert response.status == 403
    assert host.events == []


@pytest.mark.parametrize("field", ["From", "MessageSid"])
async def test_missing_required_field_is_a_bad_request(
    adapter: TwilioAdapter, host: RecordingHost, field: str
) -> None:
    fields = [(k, v) for k, v in recorded_sms() if k != field]
    response = await inbound(adapter, signed(fields))
    assert response.status == 400
    assert host.events == []


async def test_signature_checked_against_public_url_with_query(
    adapter: TwilioAdapter, host: RecordingHost
) -> None:
    """Twilio signs the full public URL, query string included (as the gateway builds it)."""
    url = PUBLIC + PATH + "?rc=3"
    fields = recorded_sms()
    request = WebhookRequest(
        method="POST",
        path=PATH,
        query={"rc": "3"},
        headers={"x-twilio-signature": sign(TOKEN, url, dict(fields))},
        body=form_request(PATH, fields).body,
        public_url=url,
    )
    assert (await inbound(adapter, request)).status == 200
    assert len(messages(host)) == 1


async def test_twilio_published_signature_vector_passes(host: RecordingHost) -> None:
    """Twilio's documented example request validates through the adapter's check."""
    config = TwilioConfig(type="twilio", account_sid=SID, auth_token="12345", from_number="+1555")
    adapter = TwilioAdapter("sms", config, host)
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    fields = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    headers = {"X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}
    request = form_request("/myapp.php", fields, headers=headers)
    request = WebhookRequest(
        method="POST",
        path="/myapp.php",
        query={"foo": "1", "bar": "2"},
        headers=request.headers,
        body=request.body,
        public_url=url,
    )
    assert is_signed(request, "12345")
    assert not is_signed(request, "54321")
    # no AccountSid in a voice example: signed, but not for this account
    assert (await inbound(adapter, request)).status == 403
