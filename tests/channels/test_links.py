"""Links are http, https, tel or mailto, media http or https; stored others are shown as text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from channels import CardPart, LinkButton, MediaPart, MessageContent, TextPart, render
from channels.content import Button, Image, Minimal, Template
from channels.links import is_link_url, is_media_url, links_as_text
from tests.channels.test_render_properties import CAPABILITIES, CONTENTS, LABELS, URLS, texts

HOSTILE = (
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "javascript\n:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example/x",
    "/relative/path",
    "https:/evil.example",
    "https://",
    "\x00https://shop.example",
)
SAFE_LINKS = (
    "https://shop.example/p/1?x=y#z",
    "HTTP://SHOP.EXAMPLE",
    "tel:+15550001111",
    "mailto:help@shop.example",
)


@pytest.mark.parametrize("url", HOSTILE)
def test_a_link_of_another_scheme_is_refused(url: str) -> None:
    """javascript:, data:, file:, relative and disguised URLs are no link, image or file."""
    assert not is_link_url(url) and not is_media_url(url)
    with pytest.raises(ValidationError, match="http, https, tel or mailto"):
        Button(label="Open", launch_url=url)
    with pytest.raises(ValidationError, match="http or https"):
        Image(url=url)


@pytest.mark.parametrize("url", SAFE_LINKS)
def test_http_https_tel_and_mailto_links_are_accepted(url: str) -> None:
    assert Button(label="Call us", launch_url=url).launch_url == url
    assert Minimal(text="See", url=url).url == url


def test_tel_and_mailto_are_links_but_not_media() -> None:
    with pytest.raises(ValidationError):
        Image(url="tel:+15550001111")
    with pytest.raises(ValidationError):
        Template(image_url="mailto:a@shop.example")


def test_content_without_refused_links_is_returned_as_it_is() -> None:
    stored = {"template": {"title": "T", "buttons": [{"label": "Go", "launchUrl": SAFE_LINKS[0]}]}}
    assert links_as_text(stored) is stored


def test_a_stored_javascript_button_becomes_a_text_line_and_postbacks_stay() -> None:
    """A card stored with a javascript: button keeps its postbacks; the link is a line of text."""
    stored = {
        "template": {
            "title": "Your order",
            "textLines": ["Shipped"],
            "buttons": [
                {"label": "Track", "launchUrl": "javascript:alert(1)"},
                {"label": "Help", "postbackProperties": {"interactionId": "help"}},
            ],
        }
    }
    shown = links_as_text(stored)
    assert shown["template"] == {
        "title": "Your order",
        "textLines": ["Shipped", "Track: javascript:alert(1)"],
        "buttons": [{"label": "Help", "postbackProperties": {"interactionId": "help"}}],
    }
    assert stored["template"]["buttons"][0]["launchUrl"] == "javascript:alert(1)"  # not changed
    MessageContent.model_validate(shown)


def test_each_kind_shows_its_refused_urls_as_text() -> None:
    """Basic media become text items in place, minimal joins its text, forms their description."""
    basic = {
        "basic": {
            "items": [
                {"text": "see"},
                {"image": {"url": "data:image/svg+xml,<svg/>", "filename": "a.svg"}},
                {"file": {"url": "https://shop.example/r.pdf"}},
            ]
        }
    }
    assert links_as_text(basic)["basic"]["items"] == [
        {"text": "see"},
        {"text": "a.svg: data:image/svg+xml,<svg/>"},
        {"file": {"url": "https://shop.example/r.pdf"}},
    ]
    minimal = {"minimal": {"text": "Pay", "url": "javascript:pay()", "iconUrl": "data:x"}}
    assert links_as_text(minimal)["minimal"] == {"text": "Pay javascript:pay()"}
    form = {
        "form": {
            "fields": [{"name": "Order", "value": "42"}],
            "media": [{"file": {"url": "file:///etc/passwd", "filename": "passwd"}}],
        }
    }
    assert links_as_text(form)["form"] == {
        "fields": [{"name": "Order", "value": "42"}],
        "description": "passwd: file:///etc/passwd",
    }
    system = {
        "system": {
            "text": "Note",
            "imageUrl": "javascript:x",
            "buttons": [{"label": "Fix", "launchUrl": "vbscript:y"}],
        }
    }
    assert links_as_text(system)["system"] == {"text": "Note\njavascript:x\nFix: vbscript:y"}


def test_a_full_card_keeps_within_ten_text_lines() -> None:
    """Ten text lines already: the links join the last line, cut to 512 characters."""
    stored = {
        "template": {
            "textLines": [f"line {n}" for n in range(10)],
            "buttons": [
                {"label": f"L{n}", "launchUrl": "javascript:" + "x" * 300} for n in range(3)
            ],
        }
    }
    lines = links_as_text(stored)["template"]["textLines"]
    assert len(lines) == 10 and lines[:9] == [f"line {n}" for n in range(9)]
    assert lines[9].startswith("line 9 L0: javascript:x") and len(lines[9]) == 512
    MessageContent.model_validate(links_as_text(stored))


# -- any content, any of its URLs made hostile ---------------------------------------------


def _slots(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths of every URL field in wire content."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = (*path, key)
            if key in ("url", "imageUrl", "iconUrl", "launchUrl") and isinstance(item, str):
                found.append(here)
            else:
                found.extend(_slots(item, here))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_slots(item, (*path, index)))
    return found


def _is_link_slot(path: tuple[Any, ...]) -> bool:
    return path[-1] == "launchUrl" or (path[0] == "minimal" and path[-1] == "url")


def _put(value: Any, path: tuple[Any, ...], url: str) -> None:
    for step in path[:-1]:
        value = value[step]
    value[path[-1]] = url


SYSTEMS = st.builds(
    lambda text, image, links: MessageContent.model_validate(
        {
            "system": {
                "text": text,
                **({"imageUrl": image} if image else {}),
                **({"buttons": [{"label": a, "launchUrl": u} for a, u in links]} if links else {}),
            }
        }
    ),
    texts(),
    st.none() | URLS,
    st.lists(st.tuples(LABELS, URLS), max_size=10),
)


@st.composite
def stored_with_hostile_urls(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A content as stored before links were limited, some of its URLs made hostile.

    Also the hostile URLs that must still be read in its text (a minimal's icon is dropped).
    """
    wire = draw(CONTENTS | SYSTEMS).wire()
    planted = []
    for path in _slots(wire):
        if draw(st.booleans()):
            url = draw(st.sampled_from(HOSTILE[:-1]))
            if not _is_link_slot(path) and draw(st.booleans()):
                url = draw(st.sampled_from(("tel:+15550001111", "mailto:a@shop.example", url)))
            _put(wire, path, url)
            if path[-1] != "iconUrl":
                planted.append(url)
    return wire, planted


def _texts(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(_texts(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(_texts(v) for v in value)
    return ""


@given(stored_with_hostile_urls(), CAPABILITIES)
@settings(max_examples=300, deadline=None)
def test_stored_hostile_urls_become_valid_content_with_text_and_render_as_text(
    case: tuple[dict[str, Any], list[str]], capabilities: Any
) -> None:
    """Whatever was stored, what goes out validates, links nothing refused, and says the URL."""
    stored, planted = case
    shown = links_as_text(stored)
    content = MessageContent.model_validate(shown)  # within every limit of the model
    for path in _slots(shown):
        value = shown
        for step in path:
            value = value[step]
        assert (is_link_url if _is_link_slot(path) else is_media_url)(value)
    words = _texts(shown)
    for url in planted:
        # a card's last text line is cut to 512 characters when more than ten lines are due
        assert url in words or "…" in words
    for part in render(content, capabilities).parts:
        if isinstance(part, CardPart):
            assert part.image_url is None or is_media_url(part.image_url)
            for button in part.buttons:
                assert not isinstance(button, LinkButton) or is_link_url(button.url)
        if isinstance(part, MediaPart):
            assert is_media_url(part.media.url)
        if isinstance(part, TextPart):
            assert all(is_media_url(m.url) for m in part.media)
