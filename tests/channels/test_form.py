"""Form-encoded webhook bodies read exactly as the standard library reads them.

Twilio signs the decoded fields; reading them any other way than `urllib.parse.parse_qsl`
does would refuse genuine webhooks or store a different text than the customer sent.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import example, given, settings
from hypothesis import strategies as st

from channels import WebhookRequest

PIECES = ["a", "B", "=", "&", "+", "%", "%2", "%2B", "%20", "%zz", "%e2%82", "%E2%82%AC", "%ff"]
PIECES += [";", "é", "😀", " ", "#", "?", "/", "==", "&&", "\x00", "%00", "%3D", "%26"]


def request(body: bytes) -> WebhookRequest:
    return WebhookRequest("POST", "/", {}, {}, body, "https://shop.example/")


@settings(max_examples=400)
@given(st.lists(st.sampled_from(PIECES), max_size=16).map("".join))
@example("Body=caf%C3%A9+%2B+cr%C3%A8me&From=%2B15550001111&Empty=&Alone")
def test_form_fields_match_the_standard_parser(text: str) -> None:
    expected = parse_qsl(text, keep_blank_values=True)
    assert request(text.encode()).form_pairs() == expected
    assert request(text.encode()).form() == dict(expected)


@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=8))
def test_any_encoded_form_reads_back_as_sent(fields: dict[str, str]) -> None:
    body = urlencode(fields).encode()
    assert request(body).form() == fields


def test_bytes_that_are_not_utf8_read_as_replacement_characters() -> None:
    assert request(b"Body=caf\xe9").form() == {"Body": "caf\ufffd"}
