"""A participant's message that arrives late, carrying an older time than one already stored,
neither closes the messaging window nor moves the reply channel (SPEC section 4: the channel
of the participant's latest inbound message)."""

from __future__ import annotations

from datetime import datetime

import pytest

from adapters.messenger.fake import message_event, post_events
from tests.api.conftest import Api, hours_ago

#: the Page and app secret of the API gateway's `fb` channel (`offline_channels`)
PAGE_ID, APP_SECRET = "1234", "secret"
PSID = "psid-late-1"


async def messenger_delivers(api: Api, *sent_at: datetime) -> None:
    """Meta posts, in one signed webhook, the person's messages written at these times."""
    events = [
        message_event(PSID, f"written at {when:%H:%M}", page_id=PAGE_ID, timestamp=_ms(when))
        for when in sent_at
    ]
    url = str(api.client.make_url("/channels/fb/webhook"))
    status, body = await post_events(url, APP_SECRET, events, page_id=PAGE_ID)
    assert status == 200, body


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


async def messenger_conversation(api: Api, *more: tuple[str, str]) -> str:
    contact = await api.contact(("fb", PSID), *more)
    return str((await api.conversation_of(contact["id"]))["id"])


@pytest.mark.parametrize("together", [False, True], ids=["two webhooks", "one webhook"])
async def test_a_late_messenger_message_from_yesterday_leaves_the_window_open(
    api: Api, together: bool
) -> None:
    conversation_id = await messenger_conversation(api)
    if together:
        await messenger_delivers(api, hours_ago(0.01), hours_ago(30))
    else:
        await messenger_delivers(api, hours_ago(0.01))
        await messenger_delivers(api, hours_ago(30))
    message = await api.send(conversation_id, "thanks for writing")
    assert message["delivery"]["channelId"] == "fb"


async def test_a_late_messenger_message_does_not_take_the_reply_from_sms(api: Api) -> None:
    conversation_id = await messenger_conversation(api, ("sms", "+15550003333"))
    await messenger_delivers(api, hours_ago(2))
    await api.inbound(conversation_id, "sms", "just now by SMS")
    await messenger_delivers(api, hours_ago(3))
    message = await api.send(conversation_id, "answer")
    assert message["delivery"]["channelId"] == "sms"


async def test_a_late_sms_does_not_take_the_reply_from_messenger(api: Api) -> None:
    """The same through the path that stores one message at a time."""
    conversation_id = await messenger_conversation(api, ("sms", "+15550003333"))
    await api.inbound(conversation_id, "fb", "an hour ago by Messenger", at=hours_ago(1))
    await api.inbound(conversation_id, "sms", "yesterday by SMS", at=hours_ago(30))
    message = await api.send(conversation_id, "answer")
    assert message["delivery"]["channelId"] == "fb"


async def test_a_late_message_one_at_a_time_leaves_the_window_open(api: Api) -> None:
    conversation_id = await messenger_conversation(api)
    await api.inbound(conversation_id, "fb", "a minute ago", at=hours_ago(0.02))
    await api.inbound(conversation_id, "fb", "yesterday", at=hours_ago(30))
    message = await api.send(conversation_id, "thanks for writing")
    assert message["delivery"]["channelId"] == "fb"
