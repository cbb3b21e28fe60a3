"""Web chat sends need no provider: a native message is confirmed under its own id (a table)."""

from __future__ import annotations

from channels import DeliveryStatus, MessageContent, NativePart, SendResult, TextPart
from channels.testing import SendCase, check_send_case, parametrize_cases
from tests.adapters.webchat_support import adapter, host, out

SENDS = [
    SendCase(
        "a native message is confirmed SENT under the message id",
        out(NativePart(MessageContent.of_text("Hi there")), message_id="msg-9"),
        check=lambda result: result == SendResult("msg-9", DeliveryStatus.SENT),
    ),
    SendCase(
        "a rendered part is refused for good: web chat shows content natively",
        out(TextPart("x")),
        retryable=False,
        error_code="UNSUPPORTED_PART",
    ),
]


@parametrize_cases(SENDS)
async def test_send(case: SendCase) -> None:
    await check_send_case(adapter(host()), case)


def test_web_chat_declares_native_content() -> None:
    assert adapter(host()).capabilities.native_content
