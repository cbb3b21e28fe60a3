"""Counting a load honestly: a message counts once it was answered 200 *and* the API lists it,
and the clock stops when the last acknowledged message is listed.

Acknowledging first and storing later is not speed: after the load, the bench waits until the
messages acknowledged last are listed and adds that wait to the load's duration. Then it reads
every conversation back (untimed) and checks that each acknowledged message is stored exactly
once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.api import Api, text_of
from bench.report import Check
from bench.signing import reference_of
from bench.wrk import Request

#: seconds the last acknowledged messages may take to be listed before the run is failed
LISTING_TIMEOUT = 120.0


async def post_all(
    http: aiohttp.ClientSession, base_url: str, requests: Iterable[Request], concurrency: int = 16
) -> None:
    """POST pre-made requests (untimed set-up, such as each customer's first message)."""
    queue = list(requests)
    gate = asyncio.Semaphore(concurrency)

    async def one(request: Request) -> None:
        headers = {"Content-Type": request.content_type, "X-Request-Id": request.id}
        if request.header:
            headers[request.header] = request.value
        async with (
            gate,
            http.post(base_url + request.path, data=request.body, headers=headers) as r,
        ):
            if r.status != 200:
                raise RuntimeError(f"{request.path} {request.id}: {r.status} {await r.text()}")

    await asyncio.gather(*(one(r) for r in queue))


async def conversations_by_reference(api: Api) -> dict[str, str]:
    """The conversation of every bench message stored so far, by the message's reference."""
    found: dict[str, str] = {}
    for message in await api.every_message():
        reference = reference_of(text_of(message))
        if reference is not None:
            found[reference] = str(message["conversationId"])
    return found


@dataclass
class Counted:
    """What the API lists of a load, against what was acknowledged."""

    acknowledged: int
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    #: listed, but never sent in this load
    unexpected: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected)

    def check(self, name: str, database: str, done: str = "stored") -> Check:
        detail = (
            f"{self.acknowledged:,} acknowledged: {len(self.missing)} missing, "
            f"{len(self.duplicated)} {done} twice, {len(self.unexpected)} unexpected"
        )
        if not self.exact:
            sample = (self.missing + self.duplicated + self.unexpected)[:3]
            detail += f" (e.g. {', '.join(sample)})"
        return Check(name, database, detail, self.exact)


def count(
    acknowledged: Iterable[str], listed: Iterable[str], sent: Iterable[str] | None = None
) -> Counted:
    """Each acknowledged reference listed exactly once; nothing listed that was not sent."""
    acked = set(acknowledged)
    times = Counter(listed)
    result = Counted(len(acked))
    result.missing = sorted(acked - set(times))
    result.duplicated = sorted(r for r, n in times.items() if n > 1)
    if sent is not None:
        result.unexpected = sorted(set(times) - set(sent))
    return result


async def listed_references(
    api: Api, conversation_ids: Iterable[str], prefix: str, direction: str | None = None
) -> list[str]:
    """The references (starting with `prefix`) of the messages listed in the conversations."""
    found = []
    for message in await api.every_message(sorted(set(conversation_ids))):
        if direction is not None and message.get("direction") != direction:
            continue
        reference = reference_of(text_of(message))
        if reference is not None and reference.startswith(prefix):
            found.append(reference)
    return found


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float = LISTING_TIMEOUT, interval: float = 0.01
) -> float:
    """Seconds until `check()` holds (polled); raises after `timeout`."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not listed within {timeout:g} s")
        await asyncio.sleep(interval)
    return time.monotonic() - started


async def wait_listed(api: Api, wanted: Mapping[str, Sequence[str]]) -> float:
    """Seconds until every reference in `wanted` (conversation id -> references) is listed
    on its conversation's newest page."""

    async def listed(conversation_id: str, references: Sequence[str]) -> bool:
        newest = {reference_of(text_of(m)) for m in await api.latest(conversation_id)}
        return all(r in newest for r in references)

    async def all_listed() -> bool:
        checks = await asyncio.gather(*(listed(c, refs) for c, refs in wanted.items()))
        return all(checks)

    return await wait_until(all_listed)


def last_acknowledged(
    acked: Sequence[str], conversation_of: Callable[[str], str], how_many: int
) -> dict[str, list[str]]:
    """The `how_many` references acknowledged last, grouped by conversation."""
    wanted: dict[str, list[str]] = {}
    for reference in acked[-how_many:]:
        wanted.setdefault(conversation_of(reference), []).append(reference)
    return wanted


def message_delivery(message: Mapping[str, Any]) -> str | None:
    delivery = message.get("delivery")
    return str(delivery["status"]) if isinstance(delivery, Mapping) else None
