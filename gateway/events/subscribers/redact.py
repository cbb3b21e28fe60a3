"""Subscriber URLs as they may be shown: without the credentials they often carry."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit, urlunsplit

from yarl import URL

#: shown in place of a URL too malformed to take apart safely
UNREADABLE = "(unreadable webhook URL)"


def redact(url: str) -> str:
    """`scheme://host[:port]/path`: no `user:password@`, no query string, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return UNREADABLE
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address needs its brackets back
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def scrub(text: str, url: str) -> str:
    """`text` with every spelling of `url` it may quote replaced by its redacted form."""
    shown = redact(url)
    spellings = {url}
    with contextlib.suppress(ValueError, TypeError):
        spellings.add(str(URL(url)))
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, shown)
    return text
