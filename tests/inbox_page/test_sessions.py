"""Agents' sessions live in the database: logging out, a changed password or expiry ends them,
on every node, and a copied cookie is worth nothing afterwards."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp import WSMsgType
from sqlalchemy import update
from sqlmodel import Session, col, select

from gateway.clock import aware, now
from gateway.state import GATEWAY
from gateway.store.models import AgentSessionRow
from tests.inbox_page.conftest import PAGE, Inbox, InboxFactory


def session_cookie(inbox: Inbox) -> str:
    return next(c.value for c in inbox.client.session.cookie_jar if c.key == "ig_session")


async def me_with(inbox: Inbox, cookie: str) -> int:
    """`/inbox/api/me` with only this cookie, as someone who copied it would send it."""
    inbox.client.session.cookie_jar.clear()
    response = await inbox.client.get(
        "/inbox/api/me", headers={**PAGE, "Cookie": f"ig_session={cookie}"}
    )
    return response.status


async def test_a_cookie_copied_before_logout_is_refused_after_it(agent: Inbox) -> None:
    copied = session_cookie(agent)
    assert await me_with(agent, copied) == 200
    agent.client.session.cookie_jar.update_cookies({"ig_session": copied})
    assert (await agent.client.post("/inbox/api/logout", headers=PAGE)).status == 200
    assert await me_with(agent, copied) == 401


async def test_the_database_holds_no_usable_token(agent: Inbox) -> None:
    cookie = session_cookie(agent)
    rows = await agent.gateway.db.read(lambda s: list(s.exec(select(AgentSessionRow))))
    assert [row.username for row in rows] == ["alice"]
    assert cookie not in {rows[0].id, rows[0].password_tag}


async def test_a_session_lasts_across_a_restart_and_on_every_node(
    make_inbox: InboxFactory,
) -> None:
    first = await make_inbox()
    assert (await first.login()).status == 200
    other_node = await make_inbox()  # another process on the same database
    assert await me_with(other_node, session_cookie(first)) == 200


async def test_logging_out_on_one_node_ends_the_session_on_the_others_within_seconds(
    make_inbox: InboxFactory,
) -> None:
    first = await make_inbox()
    assert (await first.login()).status == 200
    cookie = session_cookie(first)
    other_node = await make_inbox()
    assert await me_with(other_node, cookie) == 200
    assert (await first.client.post("/inbox/api/logout", headers=PAGE)).status == 200
    for _ in range(200):
        if await me_with(other_node, cookie) == 401:
            break
        await asyncio.sleep(0.1)
    assert await me_with(other_node, cookie) == 401


async def test_a_changed_password_ends_the_agents_sessions(make_inbox: InboxFactory) -> None:
    first = await make_inbox()
    assert (await first.login()).status == 200
    cookie = session_cookie(first)
    restarted = await make_inbox()
    agents = restarted.app[GATEWAY].config.agents
    # the operator put a new hash in the config and restarted
    agents[0] = agents[0].model_copy(update={"password_hash": "$argon2id$v=19$m=8,t=1,p=1$new"})
    assert await me_with(restarted, cookie) == 401


async def test_an_expired_session_is_refused(make_inbox: InboxFactory) -> None:
    first = await make_inbox()
    assert (await first.login()).status == 200
    cookie = session_cookie(first)

    def expire(session: Session) -> None:
        session.execute(update(AgentSessionRow).values(expires_at=now() - timedelta(seconds=1)))

    await first.gateway.db.write(expire)
    assert await me_with(await make_inbox(), cookie) == 401


async def test_expired_sessions_are_swept_at_the_next_login(make_inbox: InboxFactory) -> None:
    first = await make_inbox()
    assert (await first.login()).status == 200

    def expire(session: Session) -> None:
        session.execute(update(AgentSessionRow).values(expires_at=now() - timedelta(seconds=1)))

    await first.gateway.db.write(expire)
    assert (await first.login()).status == 200
    rows = await first.gateway.db.read(lambda s: list(s.exec(select(AgentSessionRow))))
    assert len(rows) == 1
    assert aware(rows[0].expires_at) > now()


async def test_logging_out_closes_the_sessions_live_socket(agent: Inbox) -> None:
    ws = await agent.client.ws_connect("/inbox/ws")
    hello = await ws.receive_json()
    assert hello["type"] == "hello"
    assert (await agent.client.post("/inbox/api/logout", headers=PAGE)).status == 200
    message = await ws.receive(timeout=10)
    while message.type is WSMsgType.TEXT:
        message = await ws.receive(timeout=10)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert ws.close_code == 4401
    rows = await agent.gateway.db.read(
        lambda s: list(
            s.exec(select(AgentSessionRow).where(col(AgentSessionRow.username) == "alice"))
        )
    )
    assert rows == []
