"""A Messenger webhook that mixes kinds of events (messages, a read receipt, a button press)
is stored in the request's order, in one transaction, its messages (taps on buttons among
them) with the few statements of the group commit's batches rather than a dozen each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from adapters.messenger.fake import (
    FakeGraph,
    message_event,
    post_events,
    postback_event,
    quick_reply_event,
    read_event,
)
from channels import (
    DeliveryStatus,
    InboundMessage,
    MessageContent,
    Participant,
    StatusUpdate,
)
from gateway.inbound.runs import STORE_MIXED, MixedItem
from gateway.store.models import ConversationRow, EventRow, IdentityRow, MessageRow
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import messenger_channel

SECRET = "fake-app-secret"


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent to the database meanwhile."""
    seen: list[str] = []

    def note(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def texts(live: LiveGateway, psid: str) -> list[str]:
    with Session(live.gateway.db.engine) as session:
        identity = session.exec(select(IdentityRow).where(IdentityRow.address == psid)).one()
        conversation = session.exec(
            select(ConversationRow).where(
                ConversationRow.participant_id == (identity.contact_id or identity.visitor_id)
            )
        ).one()
        messages = session.exec(
            select(MessageRow)
            .where(MessageRow.conversation_id == conversation.id)
            .order_by(col(MessageRow.sequence))
        )
        return [m.content["basic"]["items"][0]["text"] for m in messages]


async def test_messages_around_a_read_receipt_take_a_few_statements(
    start_gateway: StartGateway, graph: FakeGraph
) -> None:
    live = await start_gateway(messenger_channel("page", fake=graph))
    url = f"{live.url}/channels/page/webhook"
    customers = [f"psid-{n}" for n in range(8)]
    for psid in customers:  # known customers, as in a busy page's webhooks
        assert (await post_events(url, SECRET, [message_event(psid, "hello")]))[0] == 200
    now_ms = int(time.time() * 1000)
    mixed = [message_event(psid, "more") for psid in customers[:4]]
    mixed += [read_event("psid-0", now_ms)]
    mixed += [message_event(psid, "more") for psid in customers[4:]]

    with statements(live.gateway.db.engine) as seen:
        assert (await post_events(url, SECRET, mixed))[0] == 200

    writes = [s for s in seen if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
    # Each message alone took a dozen (its identity, conversation, menu, number, row, event)
    assert len(writes) < 40, f"{len(writes)}: " + "\n".join(writes)
    assert all(texts(live, psid) == ["hello", "more"] for psid in customers)


async def test_kinds_of_one_request_are_stored_in_its_order(
    start_gateway: StartGateway, graph: FakeGraph
) -> None:
    """A new customer whose button press comes first, then messages around a read receipt:
    one contact, one conversation, the messages numbered and announced in the request's order."""
    live = await start_gateway(messenger_channel("page", fake=graph))
    url = f"{live.url}/channels/page/webhook"
    now_ms = int(time.time() * 1000)
    request = [
        postback_event("psid-new", "Track order", "TRACK"),
        message_event("psid-new", "one"),
        message_event("psid-new", "two"),
        read_event("psid-new", now_ms),
        message_event("psid-new", "three"),
        postback_event("psid-new", "Talk to us", "TALK"),
        message_event("psid-new", "four"),
    ]

    assert (await post_events(url, SECRET, request))[0] == 200

    expected = ["Track order", "one", "two", "three", "Talk to us", "four"]
    assert texts(live, "psid-new") == expected
    with Session(live.gateway.db.engine) as session:
        assert len(list(session.exec(select(IdentityRow)))) == 1
        assert len(list(session.exec(select(ConversationRow)))) == 1
        announced = session.exec(
            select(EventRow)
            .where(EventRow.slug == "message_sent_to_business")
            .order_by(col(EventRow.seq))
        )
        in_order = [e.body["message"]["content"]["basic"]["items"][0]["text"] for e in announced]
    assert in_order == expected


async def test_taps_on_buttons_take_a_few_statements(
    start_gateway: StartGateway, graph: FakeGraph
) -> None:
    """Eight customers answer a campaign's quick reply, Meta batches their taps: each tap is
    a message and a `button_interacted` naming the tap's own message (no card of ours carries
    the button here), stored with the batch's statements and one look for the card each."""
    live = await start_gateway(messenger_channel("page", fake=graph))
    url = f"{live.url}/channels/page/webhook"
    customers = [f"psid-{n}" for n in range(8)]
    for psid in customers:
        assert (await post_events(url, SECRET, [message_event(psid, "hello")]))[0] == 200
    taps = [quick_reply_event(psid, "Yes", "YES") for psid in customers]

    with statements(live.gateway.db.engine) as seen:
        assert (await post_events(url, SECRET, taps))[0] == 200

    writes = [s for s in seen if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
    # one by one, a tap took more than a dozen
    assert len(writes) < 40, f"{len(writes)}: " + "\n".join(writes)
    assert all(texts(live, psid) == ["hello", "Yes"] for psid in customers)
    with Session(live.gateway.db.engine) as session:
        taps_stored = {
            m.id: m
            for m in session.exec(select(MessageRow).where(MessageRow.interaction_id == "YES"))
        }
        pressed = list(session.exec(select(EventRow).where(EventRow.slug == "button_interacted")))
    assert len(taps_stored) == 8
    assert {e.body["messageId"] for e in pressed} == set(taps_stored)
    assert {e.body["interactionId"] for e in pressed} == {"YES"}


async def test_mixed_requests_of_one_commit_are_stored_side_by_side(
    start_gateway: StartGateway, graph: FakeGraph
) -> None:
    """Requests that arrive together share the commit's statements, run by run, and each keeps
    its own order; a retry of one of them, arriving meanwhile, is answered as a duplicate."""
    live = await start_gateway(messenger_channel("page", fake=graph))
    db, directory = live.gateway.db, live.gateway.directory
    at = datetime.now(UTC)

    def text(mid: str, psid: str, words: str, tap: str | None = None) -> InboundMessage:
        content = MessageContent.of_text(words)
        return InboundMessage(mid, Participant(psid), content, at, interaction_id=tap)

    def watermark(psid: str) -> StatusUpdate:
        return StatusUpdate(DeliveryStatus.READ, participant_address=psid, watermark=at)

    def requests(who: str) -> list[MixedItem]:
        each = [
            [
                text(f"{who}-{n}-1", f"{who}-{n}", f"{n} one"),
                watermark(f"{who}-{n}"),
                text(f"{who}-{n}-2", f"{who}-{n}", f"{n} two"),
                watermark(f"{who}-{(n + 1) % 6}"),
                text(f"{who}-{n}-3", f"{who}-{n}", f"{n} yes", tap="YES"),
            ]
            for n in range(6)
        ]
        each.append([watermark(f"{who}-0"), text(f"{who}-0-1", f"{who}-0", "0 one")])  # a retry
        return [MixedItem("page", events, directory) for events in each]

    with statements(db.engine) as one_by_one:
        for item in requests("alone"):
            await db.write_batched(STORE_MIXED, item)
    with statements(db.engine) as together:
        reports = await asyncio.gather(
            *(db.write_batched(STORE_MIXED, item) for item in requests("psid"))
        )

    for n in range(6):
        assert texts(live, f"psid-{n}") == [f"{n} one", f"{n} two", f"{n} yes"]
        assert texts(live, f"alone-{n}") == [f"{n} one", f"{n} two", f"{n} yes"]
        assert [o.stored for o in reports[n].outcomes] == [True, False, True, False, True]
    assert [o.duplicate for o in reports[6].outcomes] == [False, True]
    assert reports[6].outcomes[1].message == reports[0].outcomes[0].message
    assert 2 * len(together) < len(one_by_one), (len(together), len(one_by_one))
