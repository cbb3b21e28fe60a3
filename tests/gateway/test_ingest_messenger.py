"""Messenger through the real gateway: profiles, postbacks, echoes and the 24 h window note."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from adapters.messenger.fake import (
    FakeGraph,
    echo_event,
    message_event,
    post_event,
    post_events,
    postback_event,
)
from gateway.clock import now
from gateway.domain.windows import note_closed_windows
from gateway.store.models import ContactRow, ConversationRow, EventRow, MessageRow
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import VERIFY_TOKEN, messenger_channel


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph(profiles={"psid-1": {"first_name": "Ada", "last_name": "Lovelace"}})
    await fake.start()
    yield fake
    await fake.stop()


async def start(start_gateway: StartGateway, graph: FakeGraph) -> tuple[LiveGateway, str]:
    live = await start_gateway(messenger_channel("facebook", fake=graph))
    return live, f"{live.url}/channels/facebook/webhook"


def rows(live: LiveGateway, model: type) -> list:  # type: ignore[type-arg]
    with Session(live.gateway.db.engine) as session:
        return list(session.exec(select(model)))


async def names_once_learned(live: LiveGateway) -> list[str | None]:
    """The contacts' names, once the profile looked up after a first message names one (or
    after 2 s): the lookup runs after the answer."""
    for _ in range(100):
        names = [c.display_name for c in rows(live, ContactRow)]
        if names == ["Ada Lovelace"]:
            break
        await asyncio.sleep(0.02)
    return names


async def test_first_contact_looks_up_the_profile_name(
    start_gateway: StartGateway, graph: FakeGraph
) -> None:
    live, url = await start(start_gateway, graph)
    status, _ = await post_event(url, "fake-app-secret", message_event("psid-1", "Hello"))
    assert status == 200
    assert len(rows(live, MessageRow)) == 1  # on disk when the provider got its answer
    assert await names_once_learned(live) == ["Ada Lovelace"]


async def test_a_new_sender_s_first_messages_together_ask_for_the_profile_once(
    start_gateway: StartGateway, graph: FakeGraph
) -> None:
    """Five first messages of a new sender in one webhook were five profile requests to the
    Graph API (each counted against the page's rate limit); one is enough."""
    live, url = await start(start_gateway, graph)
    events = [message_event("psid-1", f"hello {n}") for n in range(5)]
    status, _ = await post_events(url, "fake-app-secret", events)
    assert status == 200
    assert await names_once_learned(live) == ["Ada Lovelace"]
    await asyncio.sleep(0.2)  # room for any further lookup to reach the fake
    lookups = [r for r in graph.received if r.method == "GET" and "psid-1" in r.path]
    assert len(lookups) == 1, lookups


async def test_a_postback_is_a_message_and_a_button_interaction(
    start_gateway: StartGateway, graph: FakeGraph
) -> None:
    live, url = await start(start_gateway, graph)
    status, _ = await post_events(
        url,
        "fake-app-secret",
        [message_event("psid-2", "hi"), postback_event("psid-2", "Track order", "TRACK")],
    )
    assert status == 200
    messages = sorted(rows(live, MessageRow), key=lambda m: m.sequence)
    assert [m.content["basic"]["items"][0]["text"] for m in messages] == ["hi", "Track order"]
    assert messages[1].interaction_id == "TRACK"
    events = {e.slug: e for e in rows(live, EventRow)}
    assert events["button_interacted"].body["interactionId"] == "TRACK"
    assert events["button_interacted"].body["channelId"] == "facebook"


async def test_an_echo_from_the_page_inbox_is_stored_as_a_business_message(
    start_gateway: StartGateway, graph: FakeGraph
) -> None:
    live, url = await start(start_gateway, graph)
    await post_event(url, "fake-app-secret", message_event("psid-3", "question"))
    await post_event(url, "fake-app-secret", echo_event("psid-3", "answer from the page"))
    messages = sorted(rows(live, MessageRow), key=lambda m: m.sequence)
    assert [m.direction for m in messages] == ["PARTICIPANT_TO_BUSINESS", "BUSINESS_TO_PARTICIPANT"]
    assert len(rows(live, ConversationRow)) == 1


async def test_a_closed_window_is_noted_once(start_gateway: StartGateway, graph: FakeGraph) -> None:
    live, url = await start(start_gateway, graph)
    await post_event(url, "fake-app-secret", message_event("psid-4", "hello"))
    directory = live.gateway.directory

    def age(session: Session) -> None:
        conversation = session.exec(select(ConversationRow)).one()
        conversation.last_inbound_at = now() - timedelta(hours=25)

    await live.gateway.db.write(age)
    assert await live.gateway.db.write(lambda s: note_closed_windows(s, directory)) == 1
    assert await live.gateway.db.write(lambda s: note_closed_windows(s, directory)) == 0
    notes = [m for m in rows(live, MessageRow) if "system" in m.content]
    assert len(notes) == 1 and "24 h messaging window" in notes[0].content["system"]["text"]
    assert notes[0].visibility == "BUSINESS"


async def test_a_profile_the_database_cannot_keep_is_left_out_without_an_error(
    start_gateway: StartGateway, graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    """The look-up runs in a task nobody awaits: its failed write was an ERROR "Task exception
    was never retrieved" (a lone surrogate in the name; on PostgreSQL a picture URL past
    its column)."""
    graph.profiles["psid-8"] = {"first_name": "\ud800"}
    graph.profiles["psid-9"] = {
        "first_name": "Ada",
        "profile_pic": "https://p.example/" + "a" * 3000,
    }
    live, url = await start(start_gateway, graph)
    for psid in ("psid-8", "psid-9"):
        status, _ = await post_event(url, "fake-app-secret", message_event(psid, "Hello"))
        assert status == 200
    for _ in range(100):
        contacts = {c.display_name: c.image_url for c in rows(live, ContactRow)}
        if "Ada" in contacts:
            break
        await asyncio.sleep(0.02)
    assert contacts["Ada"] is None, "the name is kept, the picture URL left out"
    assert len(contacts) == 2 and not any("\ud800" in name for name in contacts)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_the_verification_handshake_with_an_empty_content_length_is_answered(
    start_gateway: StartGateway, graph: FakeGraph
) -> None:
    """A proxy may add `Content-Length: 0` to the GET: it was a 400 "did not arrive whole"."""
    live, _ = await start(start_gateway, graph)
    url = live.url.removeprefix("http://")
    host, port = url.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    query = f"hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=4242"
    writer.write(
        f"GET /channels/facebook/webhook?{query} HTTP/1.1\r\nHost: {url}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
    )
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.endswith(b"\r\n\r\n4242")
