"""The inbox page's numeric query parameters are ASCII digits within range, or a 400."""

from __future__ import annotations

import pytest

from tests.inbox_page.conftest import Inbox

ODD_NUMBERS = ["¹", "٣", "9" * 5000, "-1", "0", "1_0", " 5", "1e3", "99999999999999999999"]


@pytest.mark.parametrize("value", ODD_NUMBERS)
async def test_an_odd_limit_or_before_is_a_400(agent: Inbox, value: str) -> None:
    conversation_id = await agent.inbound("chat", "v_numbers", "hi", anonymous=True)
    answer = await agent.get(f"/inbox/api/conversations?limit={value}", status=400)
    assert answer["details"]["applicationError"]["code"] == "INVALID_REQUEST"
    await agent.get(f"/inbox/api/conversations/{conversation_id}?before={value}", status=400)


async def test_numbers_in_range_still_page(agent: Inbox) -> None:
    conversation_id = await agent.inbound("chat", "v_numbers", "first", anonymous=True)
    await agent.inbound("chat", "v_numbers", "second", anonymous=True)
    listed = await agent.get("/inbox/api/conversations?limit=1")
    assert [c["id"] for c in listed["conversations"]] == [conversation_id]
    thread = await agent.get(f"/inbox/api/conversations/{conversation_id}?before=2")
    assert [m["sequence"] for m in thread["messages"]] == ["1"]
