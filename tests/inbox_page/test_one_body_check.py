"""Every door refuses text no database can keep with a 400, on SQLite and PostgreSQL alike.

The REST API always did; the inbox page's reply route and the web chat's verified identities
now read their input through the same check (on PostgreSQL they answered 500).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import func, select
from yarl import URL

from gateway.app import build_app
from gateway.config import parse_config
from gateway.state import GATEWAY
from gateway.store.models import ContactRow, IdentityRow, MessageRow
from tests.inbox_page.conftest import PAGE, PASSWORD, Inbox
from tests.support.config import password_hash
from tests.support.fixtures import BACKENDS, backend_database

IDENTITY_SECRET = "site-identity-secret"
ORIGIN = "http://127.0.0.1"
CONFIG = """
[gateway]
business_name = "Test Shop"

[database]
url = "{url}"

[delivery]
retry_delays = [600]

[[agents]]
username = "alice"
password_hash = "{hash}"

[channels.chat]
type = "webchat"
allowed_origins = ["{origin}"]
identity_secret = "{secret}"
"""

#: strings no database can keep (json.dumps writes them as \u0000 and \ud800 escapes)
UNSTORABLE = {"NUL": "a\x00b", "lone surrogate": "a\ud800b", "low surrogate": "\udfff"}


@pytest.fixture(params=BACKENDS)
def door_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_database(request, tmp_path)


@pytest.fixture
async def agent(
    aiohttp_client: Callable[
        [web.Application], Awaitable[TestClient[web.Request, web.Application]]
    ],
    door_database: str,
) -> Inbox:
    """The gateway with alice logged in to the inbox page, on each database."""
    text = CONFIG.format(
        url=door_database, hash=password_hash(PASSWORD), origin=ORIGIN, secret=IDENTITY_SECRET
    )
    app = build_app(parse_config(text))
    inbox = Inbox(await aiohttp_client(app), app)
    response = await inbox.login("alice", PASSWORD)
    assert response.status == 200
    return inbox


async def _count(inbox: Inbox, model: type[Any]) -> int:
    return await inbox.app[GATEWAY].db.read(
        lambda s: int(s.exec(select(func.count()).select_from(model)).one())
    )


async def _post(inbox: Inbox, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    headers = {**PAGE, "Content-Type": "application/json"}
    response = await inbox.client.post(path, data=json.dumps(body), headers=headers)
    return response.status, await response.json()


@pytest.mark.parametrize("kind", list(UNSTORABLE))
async def test_a_reply_with_unstorable_text_is_a_400_and_stores_nothing(
    agent: Inbox, kind: str
) -> None:
    conversation_id = await agent.inbound("chat", "v_door", "hello", anonymous=True)
    before = await _count(agent, MessageRow)
    path = f"/inbox/api/conversations/{conversation_id}/messages"
    text = UNSTORABLE[kind]
    for body in (
        {"message": {"content": {"basic": {"items": [{"text": text}]}}}},
        {"message": {"content": {"minimal": {"text": "hi", "url": f"https://x.example/{text}"}}}},
        {"message": {"content": {"basic": {"items": [{"text": "hi"}]}}, text: 1}},
    ):
        status, answer = await _post(agent, path, body)
        assert status == 400, answer
        assert "NUL" in answer["message"]
    assert await _count(agent, MessageRow) == before


async def test_a_reply_reads_content_as_strictly_as_the_api(agent: Inbox) -> None:
    """A javascript: link or `height: true` is refused at the inbox page as at the API."""
    conversation_id = await agent.inbound("chat", "v_door", "hello", anonymous=True)
    path = f"/inbox/api/conversations/{conversation_id}/messages"
    link = {"template": {"title": "T", "buttons": [{"label": "Go", "launchUrl": "javascript:x"}]}}
    image = {"basic": {"items": [{"image": {"url": "https://x.example/a.png", "height": True}}]}}
    for content in (link, image):
        await agent.post(path, {"message": {"content": content}}, status=400)
    sent = await agent.post(path, {"message": {"content": {"basic": {"items": [{"text": "ok"}]}}}})
    assert sent["message"]["content"]["basic"]["items"] == [{"text": "ok"}]


@pytest.mark.parametrize(
    "target",
    [
        "/inbox/api/conversations/a%00b",
        "/inbox/api/conversations?q=a%00b",
        "/inbox/api/conversations?before=a%00b",
        "/inbox/api/conversations/a%00b/messages",
    ],
)
async def test_unstorable_text_in_the_path_or_query_is_a_400(agent: Inbox, target: str) -> None:
    method = "POST" if target.endswith("/messages") else "GET"
    body = {"message": {"content": {"basic": {"items": [{"text": "hi"}]}}}}
    response = await agent.client.request(
        method, URL(target, encoded=True), json=body, headers=PAGE
    )
    assert response.status == 400, await response.text()


async def test_a_query_parameter_given_twice_is_a_400(agent: Inbox) -> None:
    answer = await agent.get("/inbox/api/conversations?limit=5&limit=200", status=400)
    assert answer["message"] == "limit: given more than once; give it once"
    await agent.get("/inbox/api/conversations?limit=5")


async def test_the_inbox_page_still_answers_401_first(agent: Inbox) -> None:
    await agent.client.post("/inbox/api/logout", headers=PAGE)
    response = await agent.client.get(URL("/inbox/api/conversations/a%00b", encoded=True))
    assert response.status == 401


def _signature(user_id: str) -> str:
    return hmac.new(IDENTITY_SECRET.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("kind", list(UNSTORABLE))
async def test_a_verified_chat_identity_with_unstorable_text_is_a_400(
    agent: Inbox, kind: str
) -> None:
    """Only the user id is signed: a name, email or phone the page adds is checked too."""
    signature = _signature("user-1")
    text = UNSTORABLE[kind]
    headers = {"Origin": ORIGIN, "Content-Type": "application/json"}
    for field in ("name", "email", "phone"):
        identity = {"userId": "user-1", "signature": signature, field: text}
        data = json.dumps({"identity": identity})
        response = await agent.client.post("/channels/chat/sessions", data=data, headers=headers)
        assert response.status == 400, await response.text()
    assert await _count(agent, ContactRow) == 0
    assert await _count(agent, IdentityRow) == 0
    fine = {"identity": {"userId": "user-1", "signature": signature, "name": "Ann"}}
    response = await agent.client.post(
        "/channels/chat/sessions", data=json.dumps(fine), headers=headers
    )
    assert response.status == 200, await response.text()
