"""GET /inbox/v2/messages and /inbox/v2/conversations: keyset paging, both ways, no gaps."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from channels import Participant
from gateway.domain.participants import conversation_for
from gateway.store.models import ConversationRow
from tests.api.conftest import Api, hours_ago


async def chat_conversation(api: Api, user: str = "u1") -> str:
    contact = await api.contact(("chat", user), name=user)
    return str((await api.conversation_of(contact["id"]))["id"])


async def page(api: Api, **query: Any) -> dict[str, Any]:
    params = {k.replace("_", "."): str(v) for k, v in query.items()}
    return await api.call("GET", "/inbox/v2/messages", params=params)


def sequences(body: dict[str, Any]) -> list[int]:
    return [int(m["sequence"]) for m in body["messages"]]


@pytest.mark.parametrize("order", ["DESC", "ASC"])
async def test_pages_cover_every_message_once_and_prev_walks_back(api: Api, order: str) -> None:
    conversation_id = await chat_conversation(api)
    for n in range(11):
        await api.send(conversation_id, f"m{n}")
    common = {"conversationId": conversation_id, "visibility": "BUSINESS", "sorting_order": order}
    pages = [await page(api, paging_limit=4, **common)]
    assert "prev" not in pages[0]["pagingMetadata"]["cursors"]
    while "next" in pages[-1]["pagingMetadata"]["cursors"]:
        cursor = pages[-1]["pagingMetadata"]["cursors"]["next"]
        pages.append(await page(api, paging_limit=4, paging_cursor=cursor, **common))
    seen = [s for p in pages for s in sequences(p)]
    expected = list(range(1, 12))
    assert seen == (expected if order == "ASC" else expected[::-1])
    assert [p["pagingMetadata"]["count"] for p in pages] == [4, 4, 3]
    # Walking back from the last page gives the same pages in reverse.
    back = [pages[-1]]
    while "prev" in back[-1]["pagingMetadata"]["cursors"]:
        cursor = back[-1]["pagingMetadata"]["cursors"]["prev"]
        back.append(await page(api, paging_limit=4, paging_cursor=cursor, **common))
    assert [sequences(p) for p in back] == [sequences(p) for p in reversed(pages)]
    assert "next" in back[-1]["pagingMetadata"]["cursors"]


async def test_default_order_is_newest_first_and_limit_defaults_to_30(api: Api) -> None:
    conversation_id = await chat_conversation(api)
    for n in range(3):
        await api.send(conversation_id, f"m{n}")
    body = await page(api, conversationId=conversation_id, visibility="BUSINESS")
    assert sequences(body) == [3, 2, 1]
    assert body["pagingMetadata"] == {"count": 3, "cursors": {}}


async def test_participant_visibility_hides_internal_notes(api: Api) -> None:
    conversation_id = await chat_conversation(api)
    await api.send(conversation_id, "public")
    await api.send(conversation_id, "note", visibility="BUSINESS")
    await api.send(conversation_id, "public again")
    shown = await page(api, conversationId=conversation_id, visibility="BUSINESS_AND_PARTICIPANT")
    assert sequences(shown) == [3, 1]
    everything = await page(api, conversationId=conversation_id, visibility="BUSINESS")
    assert sequences(everything) == [3, 2, 1]


async def test_a_cursor_used_with_other_parameters_is_400(api: Api) -> None:
    conversation_id = await chat_conversation(api)
    other_id = await chat_conversation(api, "u2")
    for n in range(3):
        await api.send(conversation_id, f"m{n}")
    first = await page(api, conversationId=conversation_id, visibility="BUSINESS", paging_limit=1)
    cursor = first["pagingMetadata"]["cursors"]["next"]
    for changed in (
        {"conversationId": conversation_id, "visibility": "BUSINESS", "sorting.order": "ASC"},
        {"conversationId": conversation_id, "visibility": "BUSINESS_AND_PARTICIPANT"},
        {"conversationId": other_id, "visibility": "BUSINESS"},
    ):
        answer = await api.call(
            "GET", "/inbox/v2/messages", status=400, params={**changed, "paging.cursor": cursor}
        )
        [violation] = answer["details"]["validationError"]["fieldViolations"]
        assert violation["field"] == "paging.cursor"
        assert violation["description"].endswith(
            "use it with the same conversationId, sortingOrder, visibility"
        )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"visibility": "BUSINESS"}, "conversationId"),
        ({"conversationId": "x"}, "visibility"),
        ({"conversationId": "x", "visibility": "EVERYONE"}, "visibility"),
        ({"conversationId": "x", "visibility": "BUSINESS", "paging.limit": "101"}, "paging.limit"),
        ({"conversationId": "x", "visibility": "BUSINESS", "paging.limit": "0"}, "paging.limit"),
        ({"conversationId": "x", "visibility": "BUSINESS", "paging.limit": "ten"}, "paging.limit"),
        ({"conversationId": "x", "visibility": "BUSINESS", "sorting.order": "UP"}, "sorting.order"),
        ({"conversationId": "x", "visibility": "BUSINESS", "paging.cursor": "!!"}, "paging.cursor"),
    ],
)
async def test_bad_listing_parameters_are_400(api: Api, params: dict[str, str], field: str) -> None:
    answer = await api.call("GET", "/inbox/v2/messages", status=400, params=params)
    assert answer["message"] == "invalid request"
    fields = [v["field"] for v in answer["details"]["validationError"]["fieldViolations"]]
    assert field in fields


async def test_listing_an_unknown_conversation_is_404(api: Api) -> None:
    answer = await api.call(
        "GET",
        "/inbox/v2/messages",
        status=404,
        params={"conversationId": "nope", "visibility": "BUSINESS"},
    )
    assert answer["details"]["applicationError"]["code"] == "CONVERSATION_NOT_FOUND"


async def test_get_message_and_unknown_message(api: Api) -> None:
    conversation_id = await chat_conversation(api)
    sent = await api.send(conversation_id, "hello")
    got = await api.call("GET", f"/inbox/v2/messages/{sent['id']}")
    assert without_delivery(got["message"]) == without_delivery(sent)
    # answered PENDING; a web chat send is recorded SENT in the commit that stores it
    assert sent["delivery"]["status"] == "PENDING"
    assert got["message"]["delivery"]["status"] == "SENT"
    assert got["message"]["delivery"]["providerMessageIds"] == [sent["id"]]
    missing = await api.call("GET", "/inbox/v2/messages/nope", status=404)
    assert missing["details"]["applicationError"]["code"] == "MESSAGE_NOT_FOUND"


async def test_conversations_newest_activity_first_across_pages(api: Api) -> None:
    ids = [await chat_conversation(api, f"user{n}") for n in range(7)]
    # Writing to the oldest conversation makes it the most recently active.
    await api.send(ids[0], "bump")
    expected = [ids[0], *reversed(ids[1:])]
    pages = [await api.call("GET", "/inbox/v2/conversations", params={"paging.limit": "3"})]
    while "next" in pages[-1]["pagingMetadata"]["cursors"]:
        cursor = pages[-1]["pagingMetadata"]["cursors"]["next"]
        pages.append(
            await api.call(
                "GET",
                "/inbox/v2/conversations",
                params={"paging.limit": "3", "paging.cursor": cursor},
            )
        )
    seen = [c["id"] for p in pages for c in p["conversations"]]
    assert seen == expected
    assert [p["pagingMetadata"]["count"] for p in pages] == [3, 3, 1]
    back = await api.call(
        "GET",
        "/inbox/v2/conversations",
        params={
            "paging.limit": "3",
            "paging.cursor": pages[-1]["pagingMetadata"]["cursors"]["prev"],
        },
    )
    assert [c["id"] for c in back["conversations"]] == expected[3:6]


async def test_conversation_listing_defaults_and_bad_cursor(api: Api) -> None:
    await chat_conversation(api)
    body = await api.call("GET", "/inbox/v2/conversations")
    assert body["pagingMetadata"] == {"count": 1, "cursors": {}}
    bad = await api.call(
        "GET", "/inbox/v2/conversations", status=400, params={"paging.cursor": "bm9wZQ"}
    )
    assert bad["details"]["validationError"]["fieldViolations"][0]["field"] == "paging.cursor"


async def conversation_pages(
    api: Api, direction: str, cursor: str | None = None
) -> list[dict[str, Any]]:
    """The conversation list in pages of 2, from `cursor` along `direction` cursors."""
    bodies: list[dict[str, Any]] = []
    while True:
        params = {"paging.limit": "2", **({"paging.cursor": cursor} if cursor else {})}
        bodies.append(await api.call("GET", "/inbox/v2/conversations", params=params))
        cursor = bodies[-1]["pagingMetadata"]["cursors"].get(direction)
        if cursor is None:
            return bodies


def conversation_ids(bodies: list[dict[str, Any]]) -> list[list[str]]:
    return [[c["id"] for c in body["conversations"]] for body in bodies]


async def test_conversations_with_the_same_activity_time_page_without_gaps_or_repeats(
    api: Api,
) -> None:
    """Ties on the last activity are broken by id, both ways; merged-away ones are not listed."""
    ids = [await chat_conversation(api, f"user{n}") for n in range(6)]
    stamp = hours_ago(1)

    def same_time_and_merge_one(session: Session) -> None:
        for row in session.exec(select(ConversationRow)):
            row.last_activity_at = stamp
            if row.id == ids[2]:
                row.merged_into = ids[3]
            session.add(row)

    await api.gateway.db.write(same_time_and_merge_one)
    expected = sorted((i for i in ids if i != ids[2]), reverse=True)
    forward = await conversation_pages(api, "next")
    assert conversation_ids(forward) == [expected[0:2], expected[2:4], expected[4:5]]
    back = await conversation_pages(api, "prev", forward[-1]["pagingMetadata"]["cursors"]["prev"])
    assert conversation_ids(back) == [expected[2:4], expected[0:2]]


async def test_a_page_of_conversations_reads_its_participants_once_whatever_its_length(
    api: Api,
) -> None:
    made = 0

    async def add_conversations(count: int) -> None:
        nonlocal made
        for _ in range(count):
            made += 1
            contact = await api.contact(
                ("sms", f"+1555000{made:04d}"), ("chat", f"site-user-{made}"), name=f"Ann {made}"
            )
            await api.conversation_of(contact["id"])

        def visitor(session: Session) -> None:
            conversation_for(session, "chat", Participant(f"visitor-{made}", anonymous=True))

        await api.gateway.db.write(visitor)

    reads: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM identities" in statement or "FROM contacts" in statement:
            reads.append(statement)

    event.listen(api.gateway.db.engine, "before_cursor_execute", count)
    try:
        await add_conversations(2)
        reads.clear()
        short = await api.call("GET", "/inbox/v2/conversations", params={"paging.limit": "50"})
        reads_of_short = len(reads)
        await add_conversations(12)
        reads.clear()
        long = await api.call("GET", "/inbox/v2/conversations", params={"paging.limit": "50"})
        reads_of_long = len(reads)
    finally:
        event.remove(api.gateway.db.engine, "before_cursor_execute", count)

    assert (len(short["conversations"]), len(long["conversations"])) == (3, 16)
    assert reads_of_long == reads_of_short
    # each conversation as listed is the conversation as read alone
    for listed in long["conversations"]:
        alone = await api.call("GET", f"/inbox/v2/conversations/{listed['id']}")
        assert listed == alone["conversation"]
    kinds = {next(iter(c["participant"])) for c in long["conversations"]}
    assert kinds == {"contactId", "anonymousVisitorId"}


def without_delivery(message: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in message.items() if name != "delivery"}
