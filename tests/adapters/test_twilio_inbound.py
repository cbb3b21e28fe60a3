"""The Twilio inbound webhook: signatures, parsing, opt-outs (a case table, plus Twilio's own
signature vector)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.twilio import TwilioAdapter, TwilioConfig
from adapters.twilio.signature import is_signed, sign
from channels import InboundEvent, InboundMessage, OptChange, WebhookRequest, WebhookResponse
from channels.testing import (
    RecordingHost,
    WebhookCase,
    answer,
    check_webhook_case,
    form_request,
    parametrize_cases,
)
from tests.adapters.twilio_support import (
    CUSTOMER,
    INBOUND,
    MSG_SID,
    PUBLIC,
    SID,
    TOKEN,
    adapter,
    host,
    recorded_sms,
    signed,
    unsigned,
    without,
)

MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM1/Media"


def items(events: Sequence[InboundEvent]) -> list[dict[str, Any]]:
    message = events[0]
    assert isinstance(message, InboundMessage)
    found: list[dict[str, Any]] = message.content.wire()["basic"]["items"]
    return found


def the_sms(response: WebhookResponse, events: Sequence[InboundEvent]) -> None:
    [message] = events
    assert isinstance(message, InboundMessage)
    assert message.provider_message_id == MSG_SID
    assert message.participant.address == CUSTOMER
    assert message.participant.display_name == "+1 555-000-2222"
    assert items(events) == [{"text": "Is my order ready?"}]


def two_media(response: WebhookResponse, events: Sequence[InboundEvent]) -> None:
    text, image, file = items(events)
    assert text == {"text": "Photo and invoice"}
    assert image == {"image": {"url": f"{MEDIA}/ME1"}}
    assert file["file"]["url"] == f"{MEDIA}/ME2"
    assert file["file"]["mimeType"] == "application/pdf"
    assert file["file"]["filename"].endswith(".pdf")


def opted(out: bool, keyword: str) -> Any:
    def check(response: WebhookResponse, events: Sequence[InboundEvent]) -> None:
        change = events[1]
        assert isinstance(change, OptChange)
        assert (change.opted_out, change.keyword) == (out, keyword)
        assert change.participant.address == CUSTOMER

    return check


def tampered() -> WebhookRequest:
    """A signed capture whose body was changed on the way."""
    signature = signed(recorded_sms()).header("x-twilio-signature") or ""
    fields = recorded_sms(Body="Send me a refund")
    headers = {"X-Twilio-Signature": signature}
    return form_request(INBOUND, fields, public_url=PUBLIC, headers=headers)


def signed_for_another_url() -> WebhookRequest:
    headers = signed(recorded_sms(), path="/channels/other/inbound").headers
    return form_request(INBOUND, recorded_sms(), public_url=PUBLIC, headers=dict(headers))


def signed_with_query() -> WebhookRequest:
    """Twilio signs the full public URL, query string included (as the gateway builds it)."""
    url = PUBLIC + INBOUND + "?rc=3"
    fields = recorded_sms()
    return WebhookRequest(
        method="POST",
        path=INBOUND,
        query={"rc": "3"},
        headers={"x-twilio-signature": sign(TOKEN, url, dict(fields))},
        body=form_request(INBOUND, fields).body,
        public_url=url,
    )


REFUSED = {"status": 403, "event_count": 0}

CASES = [
    WebhookCase(
        "an SMS is stored and answered with empty TwiML",
        signed(recorded_sms()),
        content_type="text/xml",
        body_contains="<Response />",
        check=the_sms,
    ),
    WebhookCase(
        "an MMS with two media becomes text, image and file items",
        signed(
            recorded_sms(
                NumMedia="2",
                Body="Photo and invoice",
                MediaContentType0="image/jpeg",
                MediaUrl0=f"{MEDIA}/ME1",
                MediaContentType1="application/pdf",
                MediaUrl1=f"{MEDIA}/ME2",
            )
        ),
        check=two_media,
    ),
    WebhookCase(
        "media without a body has only media items",
        signed(
            recorded_sms(
                Body="", NumMedia="1", MediaContentType0="image/png", MediaUrl0="https://x.test/ME9"
            )
        ),
        check=lambda r, events: items(events) == [{"image": {"url": "https://x.test/ME9"}}],
    ),
    WebhookCase(
        "media numbered from another start than 0 are kept, whatever NumMedia says",
        signed(
            recorded_sms(
                Body="", NumMedia="0", MediaContentType5="image/png", MediaUrl5="https://x.test/M5"
            )
        ),
        check=lambda r, events: items(events) == [{"image": {"url": "https://x.test/M5"}}],
    ),
    WebhookCase(
        "a media type too long for any file is left out, the file kept",
        signed(
            recorded_sms(
                Body="",
                NumMedia="1",
                MediaContentType0="application/" + "x" * 300,
                MediaUrl0="https://x.test/ME7",
            )
        ),
        check=lambda r, events: items(events) == [{"file": {"url": "https://x.test/ME7"}}],
    ),
    WebhookCase(
        "an empty message is still stored",
        signed(recorded_sms(Body="")),
        check=lambda r, events: items(events) == [{"text": "(empty message)"}],
    ),
    *[
        WebhookCase(
            f"opt-out word {word!r} stores the message and opts out",
            signed(recorded_sms(Body=word)),
            event_types=[InboundMessage, OptChange],
            check=opted(True, word.strip().upper()),
        )
        for word in ["STOP", "stop", "  Unsubscribe ", "OptOut", "stopall", "QUIT"]
    ],
    *[
        WebhookCase(
            f"opt-in word {word!r} opts back in",
            signed(recorded_sms(Body=word)),
            event_types=[InboundMessage, OptChange],
            check=opted(False, word.upper()),
        )
        for word in ["START", "yes", "unstop"]
    ],
    WebhookCase(
        "an opt-out word inside a sentence is just a message",
        signed(recorded_sms(Body="please stop by tomorrow")),
        event_types=[InboundMessage],
    ),
    WebhookCase(
        "unknown extra fields are accepted and signed",
        signed(recorded_sms(MessagingServiceSid="MG" + "0" * 32, AddOns='{"status":"ok"}')),
        event_types=[InboundMessage],
    ),
    WebhookCase(
        "the signature covers the public URL's query string",
        signed_with_query(),
        event_types=[InboundMessage],
    ),
    WebhookCase(
        "another token's signature is refused",
        signed(recorded_sms(), token="someone-elses-token"),
        **REFUSED,
    ),
    WebhookCase("a tampered body is refused", tampered(), **REFUSED),
    WebhookCase("a signature for another URL is refused", signed_for_another_url(), **REFUSED),
    WebhookCase("a missing signature is refused", unsigned(recorded_sms()), **REFUSED),
    WebhookCase(
        "another account is refused even when signed",
        signed(recorded_sms(AccountSid="AC" + "ff" * 16)),
        **REFUSED,
    ),
    *[
        WebhookCase(
            f"a message without {field} is a bad request",
            signed(without(recorded_sms(), field)),
            status=400,
            event_count=0,
        )
        for field in ["From", "MessageSid"]
    ],
    WebhookCase(
        "a NUL character in the text is refused as the gateway refuses it",
        signed(recorded_sms(Body="nul \x00 inside")),
        status=400,
        body_contains="INVALID_BODY",
        event_count=0,
    ),
]


@parametrize_cases(CASES)
async def test_inbound(case: WebhookCase) -> None:
    recording = host()
    await check_webhook_case(adapter(recording), recording, case)


def test_routes_are_inbound_and_status() -> None:
    """Twilio is pointed at /channels/<id>/inbound and /channels/<id>/status."""
    assert {(r.method, r.path) for r in adapter(host()).routes()} == {
        ("POST", "inbound"),
        ("POST", "status"),
    }


async def test_twilio_published_signature_vector_passes() -> None:
    """Twilio's documented example request validates through the adapter's check."""
    config = TwilioConfig(type="twilio", account_sid=SID, auth_token="12345", from_number="+1555")
    recording = RecordingHost(channel_id="sms", public_url=PUBLIC)
    twilio = TwilioAdapter("sms", config, recording)
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
    assert (await answer(twilio.handle_inbound, request)).status == 403
    assert recording.events == []
