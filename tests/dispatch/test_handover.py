"""Sends the API accepts while the dispatcher has a free place are stored claimed for it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from channels import MessageContent
from gateway.background import DISPATCHER
from gateway.clock import now
from gateway.outbound import dispatcher
from gateway.outbound.claim import Due
from gateway.outbound.rules import SendRequest
from gateway.outbound.send_many import STORE_SENDS, SendItem
from tests.dispatch.harness import Running, running
from tests.support.config import Agent
from tests.support.polling import eventually

TOKEN = "handover-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _post(run: Running, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(run.url + path, json=body, headers=AUTH) as response,
    ):
        data = await response.json()
        assert response.status == 200, data
        assert isinstance(data, dict)
        return data


async def _conversation(run: Running, number: str) -> str:
    identity = {"channelId": "sms", "address": number}
    contact = await _post(
        run, "/inbox/v2/contacts", {"displayName": number, "identities": [identity]}
    )
    conversation = await _post(
        run, "/inbox/v2/conversations", {"participantId": {"contactId": contact["contact"]["id"]}}
    )
    return str(conversation["conversation"]["id"])


async def _send(run: Running, conversation: str, text: str) -> dict[str, Any]:
    body = {
        "conversationId": conversation,
        "message": {"content": {"basic": {"items": [{"text": text}]}}},
    }
    message = (await _post(run, "/inbox/v2/messages", body))["message"]
    assert isinstance(message, dict)
    return message


def _in_order(messages: list[dict[str, Any]]) -> list[str]:
    """The messages' ids in the conversation's order."""
    return [m["id"] for m in sorted(messages, key=lambda m: int(m["sequence"]))]


async def test_a_send_accepted_with_a_free_worker_goes_out_without_a_look_for_due_deliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was stored claimed by this node: the dispatcher need not find it nor claim it."""
    looks: list[int] = []

    def no_look(*args: Any) -> Due:
        looks.append(1)
        return Due([], None)  # nothing found: only a send handed over can go out

    monkeypatch.setattr(dispatcher, "find_due", no_look)
    async with running(tmp_path / "db.sqlite", tokens={"crm": TOKEN}) as run:
        script = run.script()
        conversation = await _conversation(run, "+15550001000")
        sent = await _send(run, conversation, "hello")
        await eventually(lambda: len(script.sent) == 1)
        assert script.sent[0].message_id == sent["id"]
        assert script.sent[0].recipient == "+15550001000"

        async def recorded() -> bool:
            return (await run.delivery(sent["id"])).status == "SENT"

        await eventually(recorded)
        assert looks, "the look ran when the dispatcher was woken, and found nothing"


async def test_an_agents_reply_from_the_inbox_page_goes_out_without_a_look_for_due_deliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatcher, "find_due", lambda *args: Due([], None))
    agent = Agent.with_password("alice", "correct horse battery")
    async with (
        running(tmp_path / "db.sqlite", tokens={"crm": TOKEN}, extra=agent.toml()) as run,
        aiohttp.ClientSession(
            headers={"X-Requested-With": "inbox"}, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as page,
    ):
        script = run.script()
        conversation = await _conversation(run, "+15550001000")
        login = {"username": "alice", "password": "correct horse battery"}
        async with page.post(run.url + "/inbox/api/login", json=login) as response:
            assert response.status == 200
        body = {"message": {"content": {"basic": {"items": [{"text": "on its way"}]}}}}
        path = f"/inbox/api/conversations/{conversation}/messages"
        async with page.post(run.url + path, json=body) as response:
            assert response.status == 200
            reply = (await response.json())["message"]
        await eventually(lambda: len(script.sent) == 1)
        assert script.sent[0].message_id == reply["id"]


async def test_sends_to_one_person_accepted_together_go_out_one_at_a_time_in_order(
    tmp_path: Path,
) -> None:
    """Only the first is stored claimed; the others wait behind it, as queued ones do."""
    async with running(tmp_path / "db.sqlite", workers=8, tokens={"crm": TOKEN}) as run:
        script = run.script()
        script.gate = asyncio.Event()  # the provider holds every send until released
        conversation = await _conversation(run, "+15550001000")
        messages = await asyncio.gather(*(_send(run, conversation, f"m{n}") for n in range(6)))
        await eventually(lambda: len(script.calls) == 1)
        # and those accepted while the first is with the provider
        messages += [await _send(run, conversation, f"m{n}") for n in range(6, 8)]
        await asyncio.sleep(0.5)
        assert len(script.calls) == 1, "one message to a person with the provider at a time"
        script.gate.set()
        await eventually(lambda: len(script.sent) == 8)
        assert [p.message_id for p in script.sent] == _in_order(messages)


async def test_a_send_stored_claimed_as_the_dispatcher_stops_is_let_go_of_unsent(
    tmp_path: Path,
) -> None:
    """Its place was given before the stop began, its commit came after: the next start (or
    another node) sends it, not a dispatcher that is stopping."""
    async with running(tmp_path / "db.sqlite", tokens={"crm": TOKEN}) as run:
        conversation = await _conversation(run, "+15550001000")
        stopping = run.app[DISPATCHER]
        ticket = stopping.ticket()
        assert ticket is not None
        stopping.stop_claiming(grace=5.0)
        item = SendItem(
            SendRequest(conversation, MessageContent.of_text("late")),
            sender=("appId", "crm"),
            now=now(),
            directory=run.gateway.directory,
            ticket=ticket,
        )
        answer = await run.gateway.db.write_batched(STORE_SENDS, item)
        stopping.return_ticket(ticket)
        message_id = answer["message"]["id"]
        assert ticket.claimed == message_id

        async def let_go() -> bool:
            return (await run.delivery(message_id)).claimed_until is None

        await eventually(let_go)
        await asyncio.sleep(0.3)
        assert run.script().calls == []
