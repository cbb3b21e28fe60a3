"""The sandbox: SMS, Messenger and web chat meet in one inbox, through the loopback fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.sandbox.run import Sandbox, start_sandbox
from tests.support.ports import free_port

PAGE = {"X-Requested-With": "inbox"}


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    running = await start_sandbox("127.0.0.1", free_port())
    try:
        yield running
    finally:
        await running.stop()


async def _agent(sandbox: Sandbox) -> aiohttp.ClientSession:
    # unsafe=True: the jar otherwise refuses cookies from an IP address such as 127.0.0.1
    jar = aiohttp.CookieJar(unsafe=True)
    session = aiohttp.ClientSession(base_url=sandbox.url, headers=PAGE, cookie_jar=jar)
    async with session.post(
        "/inbox/api/login", json={"username": "agent", "password": "agent"}
    ) as response:
        assert response.status == 200
    return session


async def _conversations(session: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with session.get("/inbox/api/conversations") as response:
        body = await response.json()
    result: list[dict[str, Any]] = body["conversations"]
    return result


async def test_the_phone_pages_customers_land_in_the_inbox(sandbox: Sandbox) -> None:
    agent = await _agent(sandbox)
    async with agent:
        async with agent.post(
            "/sandbox/api/sms", json={"from": "+15550100001", "body": "Is my order ready?"}
        ) as response:
            assert response.status == 200
        async with agent.post(
            "/sandbox/api/messenger",
            json={"psid": "PSID-1", "name": "Mia Rossi", "text": "Do you ship to Italy?"},
        ) as response:
            assert response.status == 200
        listed = await _conversations(agent)
        assert {c["channels"][0] for c in listed} == {"SMS", "FACEBOOK"}
        previews = {c["lastMessage"]["text"] for c in listed}
        assert previews == {"Is my order ready?", "Do you ship to Italy?"}


async def test_an_agents_sms_reply_reaches_the_phone(sandbox: Sandbox) -> None:
    agent = await _agent(sandbox)
    async with agent:
        async with agent.post(
            "/sandbox/api/sms", json={"from": "+15550100001", "body": "Hello?"}
        ) as response:
            assert response.status == 200
        conversation = (await _conversations(agent))[0]
        reply = {"message": {"content": {"basic": {"items": [{"text": "Hi! Yes, it is."}]}}}}
        async with agent.post(
            f"/inbox/api/conversations/{conversation['id']}/messages", json=reply
        ) as response:
            assert response.status == 200
        for _ in range(100):
            async with agent.get("/sandbox/api/sms?number=%2B15550100001") as response:
                messages = (await response.json())["messages"]
            if any(m["from"] == "business" for m in messages):
                break
            await asyncio.sleep(0.05)
        assert [m["text"] for m in messages] == ["Hello?", "Hi! Yes, it is."]


async def test_the_sandbox_serves_its_pages(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        for path in ("/sandbox/", "/sandbox/phone", "/inbox/", "/channels/chat/widget.js"):
            async with session.get(path) as response:
                assert response.status == 200, path


async def test_the_phone_refuses_text_no_database_keeps_with_a_400(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """A lone surrogate could not be posted to the Twilio fake: a 500 and an ERROR."""
    async with aiohttp.ClientSession(base_url=sandbox.url) as phone:
        for path, body in (
            ("/sandbox/api/sms", {"from": "+15550100001", "body": "\ud800"}),
            ("/sandbox/api/messenger", {"psid": "P-2", "name": "\ud800 x", "text": "hi"}),
        ):
            async with phone.post(path, json=body) as response:
                assert response.status == 400, await response.text()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_the_sandbox_listens_on_this_machine_only(capsys: pytest.CaptureFixture[str]) -> None:
    """Its inbox logs in as agent/agent: on 0.0.0.0 anyone on the network could."""
    from gateway.cli.commands import main

    assert main(["sandbox", "--host", "0.0.0.0", "--port", str(free_port())]) == 1
    assert "not a loopback address" in capsys.readouterr().out
