"""A message stored with a `javascript:` link before links were limited goes out with it as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session

from channels import (
    Capabilities,
    CardPart,
    Direction,
    LinkButton,
    MessageContent,
    Participant,
)
from gateway.clock import now
from gateway.domain.messages import announce, append_message
from gateway.domain.participants import conversation_for
from gateway.outbound.rules import SendRequest, send_message
from gateway.store.models import MessageRow
from tests.dispatch.harness import FakeAdapter, Running, running
from tests.support.polling import eventually
from tests.webhooks.subscriber import subscriber
from tests.webhooks.test_webhooks import FAST

XSS = "javascript:alert(document.cookie)"
STORED_CARD: dict[str, Any] = {
    "template": {
        "title": "Your order",
        "buttons": [
            {"label": "Track", "launchUrl": XSS},
            {"label": "Shop", "launchUrl": "https://shop.example"},
            {"label": "Help", "postbackProperties": {"interactionId": "help"}},
        ],
    },
    "previewText": "Your order",
}


class CardAdapter(FakeAdapter):
    """A channel that shows cards with link buttons, as Messenger does."""

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(text_limit=2000, cards=True, card_buttons_max=3, native_postbacks=True)


async def _queue_old_card(run: Running, address: str) -> str:
    """A PENDING card whose stored row holds a javascript: link, as an older version wrote it."""
    gw = run.gateway

    def store(session: Session) -> str:
        conversation, _, _ = conversation_for(session, "sms", Participant(address))
        valid = MessageContent.model_validate({"basic": {"items": [{"text": "placeholder"}]}})
        message, _ = send_message(
            session,
            gw.directory,
            SendRequest(conversation.id, valid, target_channel_ids=["sms"]),
            sender=("appId", "crm"),
            now=now(),
        )
        message.content = STORED_CARD
        session.add(message)
        return message.id

    return await gw.db.write(store)


async def test_a_stored_javascript_button_is_sent_as_text_not_as_a_link(tmp_path: Path) -> None:
    async with running(tmp_path / "db.sqlite", adapters={"fake": CardAdapter}) as run:
        message_id = await _queue_old_card(run, "+15550002222")
        await eventually(lambda: _is_sent(run, message_id))
        [card] = run.script().sent
        assert card.message_id == message_id
        assert isinstance(card.part, CardPart)
        links = [b for b in card.part.buttons if isinstance(b, LinkButton)]
        assert [(b.label, b.url) for b in links] == [("Shop", "https://shop.example")]
        assert card.part.subtitle == f"Track: {XSS}"


async def _is_sent(run: Running, message_id: str) -> bool:
    return (await run.delivery(message_id)).status == "SENT"


async def test_an_event_of_a_stored_javascript_link_carries_it_as_text(tmp_path: Path) -> None:
    """The outgoing webhook of a message holding a javascript: link gets no link of it."""
    async with (
        subscriber() as sub,
        running(tmp_path / "db.sqlite", webhooks=[sub.webhook()], options=FAST) as run,
    ):
        gw = run.gateway

        def store(session: Session) -> None:
            conversation, _, _ = conversation_for(session, "sms", Participant("+15550003333"))
            row: MessageRow = append_message(
                session,
                conversation,
                content=STORED_CARD,
                sender=("appId", "crm"),
                direction=Direction.BUSINESS_TO_PARTICIPANT,
                target_channel_id="sms",
            )
            announce(session, row, None, gw.directory)

        await gw.db.write(store)
        await eventually(lambda: sub.accepted)
        template = sub.accepted[0]["actionEvent"]["body"]["message"]["content"]["template"]
        assert template["textLines"] == [f"Track: {XSS}"]
        assert [b.get("launchUrl") for b in template["buttons"]] == ["https://shop.example", None]
