"""Web origins as browsers send them, compared exactly on scheme, host and port."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    """A `scheme://host[:port]` with the default port filled in."""

    scheme: str
    host: str
    port: int


def parse_origin(text: str) -> Origin | None:
    """The origin written in `text`, or None when it is not exactly `scheme://host[:port]`."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return None
    if text.strip().endswith(("?", "#")):
        return None
    return Origin(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])


class OriginPolicy:
    """Which site origins may open web chat sessions."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self._allowed = {o for o in (parse_origin(a) for a in allowed) if o is not None}

    def allows(self, header: str | None) -> bool:
        """Whether a request's `Origin` header names an allowed origin."""
        if not header:
            return False
        origin = parse_origin(header)
        return origin is not None and origin in self._allowed
