"""Whatever a signed Twilio webhook carries, the adapter answers 200 or 4xx and never crashes.

The answers are the gateway's (`answer`): text no database can keep is refused with 400 there.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import MultiDict

from adapters.twilio import TwilioAdapter, TwilioConfig
from adapters.twilio.signature import sign
from channels import InboundMessage, WebhookRequest
from channels.testing import RecordingHost, answer, form_request

SID = "AC" + "f6" * 16
TOKEN = "property-token"
PUBLIC = "https://inbox.example.com"

names = st.sampled_from(
    ["Body", "NumMedia", "MediaUrl0", "MediaContentType0", "MediaUrl7", "From", "Extra", "To"]
)
values = st.text(max_size=5000) | st.sampled_from(["", "99999999", "-1", "image/png", "STOP"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=st.lists(st.tuples(names, values), max_size=8))
async def test_any_signed_inbound_is_answered_without_crashing(
    extra: list[tuple[str, str]],
) -> None:
    host = RecordingHost(channel_id="sms", public_url=PUBLIC)
    config = TwilioConfig(
        type="twilio", account_sid=SID, auth_token=TOKEN, from_number="+15550001111"
    )
    adapter = TwilioAdapter("sms", config, host)
    fields = [
        ("AccountSid", SID),
        ("MessageSid", "SM" + "0" * 32),
        ("From", "+15550002222"),
        *extra,
    ]
    url = PUBLIC + "/channels/sms/inbound"
    signature = sign(TOKEN, url, MultiDict(fields))
    request = form_request(
        "/channels/sms/inbound",
        fields,
        public_url=PUBLIC,
        headers={"X-Twilio-Signature": signature},
    )
    response = await answer(adapter.handle_inbound, request)
    assert response.status in (200, 400)
    stored = [e for e in host.events if isinstance(e, InboundMessage)]
    assert len(stored) == (1 if response.status == 200 else 0)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=2000))
async def test_arbitrary_bytes_without_a_valid_signature_are_refused(body: bytes) -> None:
    host = RecordingHost(channel_id="sms", public_url=PUBLIC)
    config = TwilioConfig(
        type="twilio", account_sid=SID, auth_token=TOKEN, from_number="+15550001111"
    )
    adapter = TwilioAdapter("sms", config, host)
    request = WebhookRequest(
        method="POST",
        path="/channels/sms/status",
        query={},
        headers={"x-twilio-signature": "x"},
        body=body,
        public_url=PUBLIC + "/channels/sms/status",
    )
    assert (await adapter.handle_status(request)).status == 403
    assert (await adapter.handle_inbound(request)).status == 403
    assert host.events == []
