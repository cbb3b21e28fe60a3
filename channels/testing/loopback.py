"""A guard that fails a test when anything in it reaches for a host other than this machine.

It sits on the socket module itself, so it holds for every HTTP client an adapter may use
(aiohttp, `requests`/urllib3, the `twilio` and `python-facebook-api` libraries built on them)
and for every thread. A refused connection also raises inside the adapter, which may well
classify it as a retryable network error: that is why the guard records every attempt and
fails the test when the block ends, whatever the adapter made of it.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: host names that always mean this machine
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class LoopbackGuard:
    """What left (or tried to leave) the machine while the guard was on."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._lock = threading.Lock()

    def refuse(self, what: str) -> OSError:
        with self._lock:
            self.attempts.append(what)
        return ConnectionRefusedError(f"tests reach loopback hosts only; refused {what}")

    def verdict(self) -> str | None:
        """Why the test must fail, or None when everything stayed on this machine."""
        if not self.attempts:
            return None
        listed = ", ".join(dict.fromkeys(self.attempts))
        return (
            f"a request left the machine: {listed}. Point the adapter at a loopback fake of "
            "its provider (e.g. a base URL setting) instead."
        )


def is_loopback(host: object) -> bool:
    """Whether a host (a name or an address) is this machine."""
    if isinstance(host, bytes):
        host = host.decode("ascii", errors="replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


@contextmanager
def loopback_only() -> Iterator[LoopbackGuard]:
    """Within the block, connections and name look-ups for other hosts fail the test.

    Unix sockets and loopback addresses pass; anything else is refused at once and reported
    as an AssertionError when the block ends.
    """
    guard = LoopbackGuard()
    original_getaddrinfo = socket.getaddrinfo
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback(host):
            raise guard.refuse(f"{host}:{port} (name look-up)")
        return original_getaddrinfo(host, port, *args, **kwargs)

    def _checked(address: Any) -> None:
        if isinstance(address, tuple) and not is_loopback(address[0]):
            raise guard.refuse(f"{address[0]}:{address[1]}")

    def connect(self: socket.socket, address: Any) -> None:
        _checked(address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _checked(address)
        return original_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    try:
        yield guard
    except BaseException as failure:
        # a refused connection usually surfaces as some error of its own: name the cause
        verdict = guard.verdict()
        if verdict is not None:
            raise AssertionError(verdict) from failure
        raise
    finally:
        socket.getaddrinfo = original_getaddrinfo
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
    verdict = guard.verdict()
    if verdict is not None:
        raise AssertionError(verdict)
