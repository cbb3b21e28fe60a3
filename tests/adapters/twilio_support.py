"""What the Twilio adapter's tests share: recorded webhooks, signing, the adapter and its kit."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.twilio import TwilioAdapter, TwilioConfig
from adapters.twilio.fake import FakeTwilio
from adapters.twilio.signature import sign
from channels import OutboundPart, Part, TextPart, WebhookRequest
from channels.testing import AdapterKit, CannedResponse, RecordingHost, SendCase, form_request

SID = "AC" + "a1" * 16
TOKEN = "twilio-test-auth-token"
SERVICE = "MG" + "d4" * 16
NUMBER = "+15550001111"
CUSTOMER = "+15550002222"
PUBLIC = "https://inbox.example.com"
INBOUND = "/channels/sms/inbound"
STATUS = "/channels/sms/status"
MSG_SID = "SM" + "5e" * 16
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"


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
        ("To", NUMBER),
        ("ToZip", ""),
        ("NumSegments", "1"),
        ("MessageSid", MSG_SID),
        ("AccountSid", SID),
        ("From", CUSTOMER),
        ("ApiVersion", "2010-04-01"),
    ]
    out = [(k, changes.pop(k, v)) for k, v in fields]
    return out + list(changes.items())


def callback(status: str, error_code: str | None = None) -> list[tuple[str, str]]:
    """A status callback in the shape Twilio posts it."""
    fields = [
        ("SmsSid", MSG_SID),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", CUSTOMER),
        ("MessageSid", MSG_SID),
        ("AccountSid", SID),
        ("From", NUMBER),
        ("ApiVersion", "2010-04-01"),
    ]
    if error_code is not None:
        fields.append(("ErrorCode", error_code))
    if status in ("delivered", "undelivered"):
        fields.append(("RawDlrDoneDate", "2611270300"))
    return fields


def without(fields: Sequence[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in fields if k != name]


def signed(
    fields: Sequence[tuple[str, str]], path: str = INBOUND, token: str = TOKEN
) -> WebhookRequest:
    """The request as Twilio posts it to `path`, signed with `token`."""
    signature = sign(token, PUBLIC + path, dict(fields))
    return form_request(path, fields, public_url=PUBLIC, headers={"X-Twilio-Signature": signature})


def unsigned(fields: Sequence[tuple[str, str]], path: str = INBOUND) -> WebhookRequest:
    return form_request(path, fields, public_url=PUBLIC)


def host() -> RecordingHost:
    return RecordingHost(channel_id="sms", public_url=PUBLIC)


def adapter(
    recording: RecordingHost, api_base_url: str | None = None, **config: object
) -> TwilioAdapter:
    """A Twilio channel `sms` sending from NUMBER (or as `config` says)."""
    settings: dict[str, object] = {"type": "twilio", "account_sid": SID, "auth_token": TOKEN}
    if api_base_url is not None:
        settings["api_base_url"] = api_base_url
    settings.update(config)
    if "messaging_service_sid" not in settings:
        settings.setdefault("from_number", NUMBER)
    return TwilioAdapter("sms", TwilioConfig.model_validate(settings), recording)


def fake() -> FakeTwilio:
    return FakeTwilio(account_sid=SID, auth_token=TOKEN)


def out(part: Part, to: str = CUSTOMER) -> OutboundPart:
    return OutboundPart(part=part, recipient=to, message_id="m1", conversation_id="c1")


def twilio_error(
    code: int, status: int = 400, message: str = "refused", retry_after: str | None = None
) -> CannedResponse:
    """An error answer as Twilio's API gives it."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return CannedResponse(status, body, headers=headers)


KIT = AdapterKit(
    name="twilio",
    build=adapter,
    secrets=[TOKEN],
    message=signed(recorded_sms()),
    unsigned=[
        unsigned(recorded_sms()),
        signed(recorded_sms(), token="someone-elses-token"),
        unsigned(callback("delivered"), STATUS),
        signed(callback("delivered"), STATUS, token="someone-elses-token"),
    ],
    malformed=[
        signed(without(recorded_sms(), "From")),
        signed(without(recorded_sms(), "MessageSid")),
        signed(without(callback("failed", "30003"), "MessageStatus"), STATUS),
    ],
    sends=[
        SendCase("a text", out(TextPart("Your order shipped"))),
        SendCase(
            "a revoked token",
            out(TextPart("Hi")),
            responses=[twilio_error(20003, 401, "Authenticate")],
            retryable=False,
            error_code="TWILIO_20003",
        ),
        SendCase(
            "an outage",
            out(TextPart("Hi")),
            responses=[twilio_error(20503, 503, "Service Unavailable")],
            retryable=True,
        ),
    ],
    profile_address=CUSTOMER,
    provider=fake,
    host=host,
)
