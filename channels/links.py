"""Which URLs a message may carry as links or media, and stored ones of other schemes as text.

A link (`launchUrl`, a `minimal` message's `url`) is `http`, `https`, `tel` or `mailto`; an
image, a file, an icon or a card image is `http` or `https`. Anything else (`javascript:`,
`data:`, `file:`, a relative path) is refused when a message is written, and a URL of another
scheme stored before that rule is handed out as a line of text, never as a link.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeGuard

MAX_URL = 2048
LINK_SCHEMES = ("http", "https", "tel", "mailto")
MEDIA_SCHEMES = ("http", "https")

#: the text limits the lines made of refused URLs are cut to (content.py holds the same)
_ITEM_TEXT = 4096
_TEXT_LINE = 512
_TEXT_LINES = 10


def _any_case(word: str) -> str:
    # JSON Schema patterns are ECMA-262 regexes, which have no inline (?i) flag.
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


def _pattern(schemes: tuple[str, ...]) -> str:
    """A regex accepted alike by pydantic, Python and JSON Schema validators.

    Browsers skip leading spaces and control characters and drop tabs and newlines anywhere
    before they read a scheme (`java\\tscript:` is `javascript:` to them), so none is allowed;
    http(s) also needs a host.
    """
    prefixes = [
        _any_case(s) + "://[^\\x00-\\x20\\x7f/?#\\\\]"
        if s.startswith("http")
        else _any_case(s) + ":"
        for s in schemes
    ]
    return "^(?:" + "|".join(prefixes) + ")[^\\x00-\\x1f\\x7f]*$"


LINK_PATTERN = _pattern(LINK_SCHEMES)
MEDIA_PATTERN = _pattern(MEDIA_SCHEMES)
_LINK = re.compile(LINK_PATTERN)
_MEDIA = re.compile(MEDIA_PATTERN)


def is_link_url(url: str) -> bool:
    """Whether `url` may be a link: http, https, tel or mailto, at most 2048 characters."""
    return 0 < len(url) <= MAX_URL and _LINK.fullmatch(url) is not None


def is_media_url(url: str) -> bool:
    """Whether `url` may be an image or a file: http or https, at most 2048 characters."""
    return 0 < len(url) <= MAX_URL and _MEDIA.fullmatch(url) is not None


def _refused(value: Any, allowed: Callable[[str], bool]) -> TypeGuard[str]:
    """Whether `value` is a URL that `allowed` refuses."""
    return isinstance(value, str) and not allowed(value)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _line(label: Any, url: str) -> str:
    return f"{label}: {url}" if isinstance(label, str) and label else url


def links_as_text(content: Any) -> Any:
    """Stored content whose URLs of a refused scheme are moved into its text.

    Each such URL leaves its place and comes back as a line of text, `Label: url` (or the URL
    alone): a basic image or file becomes a text item where it stood; a `minimal` url joins
    its text; a card's image or link button becomes a text line; a form's media joins its
    description; a system note's image or link button joins its text. A `minimal` icon is
    decoration and is dropped. Content with none of them is returned as it is (the same
    object), so the common case costs a few look-ups.
    """
    if not isinstance(content, dict) or not _holds_refused(content):
        return content
    out = dict(content)
    for kind, convert in _CONVERTERS.items():
        payload = out.get(kind)
        if isinstance(payload, dict):
            out[kind] = convert(payload)
    return out


def _holds_refused(content: dict[str, Any]) -> bool:
    basic = content.get("basic")
    if isinstance(basic, dict):
        return any(_media_refused(item) for item in _dicts(basic.get("items")))
    minimal = content.get("minimal")
    if isinstance(minimal, dict):
        return _refused(minimal.get("url"), is_link_url) or _refused(
            minimal.get("iconUrl"), is_media_url
        )
    form = content.get("form")
    if isinstance(form, dict):
        return any(_media_refused(entry) for entry in _dicts(form.get("media")))
    for kind in ("template", "system"):
        card = content.get(kind)
        if isinstance(card, dict) and (
            _refused(card.get("imageUrl"), is_media_url)
            or any(_refused(b.get("launchUrl"), is_link_url) for b in _dicts(card.get("buttons")))
        ):
            return True
    return False


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _media_refused(entry: dict[str, Any]) -> bool:
    return any(
        isinstance(entry.get(kind), dict) and _refused(entry[kind].get("url"), is_media_url)
        for kind in ("image", "file")
    )


def _media_line(entry: dict[str, Any]) -> str | None:
    """The line that stands for a refused image or file entry; None when it is acceptable."""
    for kind in ("image", "file"):
        media = entry.get(kind)
        if isinstance(media, dict) and _refused(media.get("url"), is_media_url):
            return _line(media.get("filename"), media["url"])
    return None


def _basic(basic: dict[str, Any]) -> dict[str, Any]:
    items = []
    for item in basic.get("items") or []:
        line = _media_line(item) if isinstance(item, dict) else None
        items.append(item if line is None else {"text": _cut(line, _ITEM_TEXT)})
    return {**basic, "items": items}


def _minimal(minimal: dict[str, Any]) -> dict[str, Any]:
    out = dict(minimal)
    if _refused(out.get("iconUrl"), is_media_url):
        del out["iconUrl"]
    url = out.get("url")
    if _refused(url, is_link_url):
        del out["url"]
        out["text"] = _cut(f"{out.get('text', '')} {url}".strip(), _ITEM_TEXT)
    return out


def _card_lines(card: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The card without refused image or link buttons, and the lines that stand for them."""
    out = dict(card)
    lines: list[str] = []
    image = out.get("imageUrl")
    if _refused(image, is_media_url):
        del out["imageUrl"]
        lines.append(image)
    if isinstance(out.get("buttons"), list):
        kept = []
        for button in out["buttons"]:
            url = button.get("launchUrl") if isinstance(button, dict) else None
            if _refused(url, is_link_url):
                lines.append(_line(button.get("label"), url))
            else:
                kept.append(button)
        if kept:
            out["buttons"] = kept
        else:
            del out["buttons"]
    return out, lines


def _template(template: dict[str, Any]) -> dict[str, Any]:
    out, lines = _card_lines(template)
    text_lines = [*(out.get("textLines") or []), *(_cut(line, _TEXT_LINE) for line in lines)]
    if len(text_lines) > _TEXT_LINES:
        # the last line holds whatever did not fit in its own
        rest = " ".join(text_lines[_TEXT_LINES - 1 :])
        text_lines = [*text_lines[: _TEXT_LINES - 1], _cut(rest, _TEXT_LINE)]
    out["textLines"] = text_lines
    return out


def _system(system: dict[str, Any]) -> dict[str, Any]:
    out, lines = _card_lines(system)
    out["text"] = _cut("\n".join([out.get("text", ""), *lines]), _ITEM_TEXT)
    return out


def _form(form: dict[str, Any]) -> dict[str, Any]:
    out = dict(form)
    kept, lines = [], []
    for entry in out.get("media") or []:
        line = _media_line(entry) if isinstance(entry, dict) else None
        if line is None:
            kept.append(entry)
        else:
            lines.append(line)
    if kept:
        out["media"] = kept
    else:
        out.pop("media", None)
    description = [out["description"]] if out.get("description") else []
    out["description"] = _cut("\n".join([*description, *lines]), _ITEM_TEXT)
    return out


_CONVERTERS = {
    "basic": _basic,
    "minimal": _minimal,
    "template": _template,
    "form": _form,
    "system": _system,
}
