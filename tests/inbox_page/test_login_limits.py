"""Password guesses are counted per client address before they are checked, and the argon2
checks that run at once are capped, so guessing neither gets through nor locks agents out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.web.inbox.auth import SESSIONS
from tests.inbox_page.conftest import PAGE, PASSWORD, Inbox, InboxFactory

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]

#: password checks wait for a free slot as long as a loaded test machine may need
PATIENT = "[limits]\npassword_check_wait = 30\n"
ATTACKER = {**PAGE, "X-Forwarded-For": "203.0.113.9"}
AGENT = {**PAGE, "X-Forwarded-For": "198.51.100.7"}


async def behind_a_proxy(make_inbox: InboxFactory, limits: str = "") -> Inbox:
    """A gateway behind a trusted TLS terminator (127.0.0.1, as the test client is)."""
    return await make_inbox(trusted_proxies=["127.0.0.1"], extra=limits)


async def login(inbox: Inbox, password: str, headers: dict[str, str]) -> web.Response:
    body = {"username": "alice", "password": password}
    response = await inbox.client.post("/inbox/api/login", json=body, headers=headers)
    await response.read()
    return response  # type: ignore[return-value]


async def test_guesses_sent_in_parallel_are_counted_before_they_are_checked(
    make_inbox: InboxFactory,
) -> None:
    # checks may queue as long as they like here: only the limit decides who is refused
    inbox = await behind_a_proxy(make_inbox, PATIENT)
    answers = await asyncio.gather(*(inbox.login(password=f"guess-{n}") for n in range(60)))
    statuses = Counter(response.status for response in answers)
    assert statuses == {401: 5, 429: 55}
    refused = next(r for r in answers if r.status == 429)
    assert int(refused.headers["Retry-After"]) > 0
    assert "too many login attempts" in (await refused.json())["message"]


async def test_five_guesses_a_minute_then_the_address_waits(inbox: Inbox) -> None:
    for _ in range(5):
        assert (await inbox.login(password="guess")).status == 401
    refused = await inbox.login()
    assert refused.status == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60


async def test_an_agent_logs_in_while_someone_elsewhere_guesses_their_password(
    make_inbox: InboxFactory,
) -> None:
    inbox = await behind_a_proxy(make_inbox, PATIENT)
    guesses = await asyncio.gather(*(login(inbox, f"guess-{n}", ATTACKER) for n in range(20)))
    assert {r.status for r in guesses} == {401, 429}
    assert (await login(inbox, PASSWORD, ATTACKER)).status == 429
    assert (await login(inbox, PASSWORD, AGENT)).status == 200


async def test_guessing_many_usernames_from_one_address_is_limited_too(
    make_inbox: InboxFactory,
) -> None:
    inbox = await behind_a_proxy(make_inbox, "[limits]\nlogins_per_address = 10\n")
    for n in range(10):
        body = {"username": f"user-{n}", "password": "guess"}
        response = await inbox.client.post("/inbox/api/login", json=body, headers=ATTACKER)
        assert response.status == 401
    body = {"username": "user-10", "password": "guess"}
    refused = await inbox.client.post("/inbox/api/login", json=body, headers=ATTACKER)
    assert refused.status == 429
    assert (await login(inbox, PASSWORD, AGENT)).status == 200


@pytest.mark.parametrize("checks", [1, 2])
async def test_a_login_waits_briefly_for_a_free_password_check_then_gets_503(
    make_inbox: InboxFactory, checks: int
) -> None:
    inbox = await behind_a_proxy(
        make_inbox,
        f"[limits]\npassword_checks = {checks}\npassword_check_wait = 0.2\n",
    )
    slots = inbox.app[SESSIONS].password_checks
    assert slots.capacity == checks
    async with AsyncExitStack() as busy_checks:
        # every slot taken, as that many slow checks running at once would
        for _ in range(checks):
            await busy_checks.enter_async_context(slots.hold(wait=0))
        busy = await login(inbox, PASSWORD, AGENT)
        assert busy.status == 503
        assert int(busy.headers["Retry-After"]) > 0
    assert (await login(inbox, PASSWORD, AGENT)).status == 200
