"""Merging contacts whose conversations both hold a numbered menu on one channel."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import ClientSession
from sqlmodel import Session, select

from gateway.clock import aware, now
from gateway.domain.participants import CONTACT, ensure_conversation
from gateway.store.models import MenuRow
from tests.gateway.conftest import StartGateway
from tests.support.config import twilio_channel


async def test_merge_keeps_only_the_newest_menu_of_a_channel(
    start_gateway: StartGateway,
) -> None:
    live = await start_gateway(twilio_channel())
    async with ClientSession(headers=live.auth) as http:

        async def contact(phone: str) -> str:
            body = {"identities": [{"channelId": "sms", "address": phone}]}
            async with http.post(f"{live.url}/inbox/v2/contacts", json=body) as answer:
                assert answer.status == 200
                return str((await answer.json())["contact"]["id"])

        target, source = await contact("+15550002222"), await contact("+15550003333")
        stamp = now()

        def add_menus(session: Session) -> str:
            conversations = {}
            for contact_id, label, age in ((target, "old", 5), (source, "new", 1)):
                conversation, _ = ensure_conversation(session, CONTACT, contact_id)
                conversations[label] = conversation.id
                session.add(
                    MenuRow(
                        conversation_id=conversation.id,
                        channel_id="sms",
                        message_id=f"message-{label}",
                        choices=[{"label": label, "interactionId": label.upper()}],
                        created_at=stamp - timedelta(minutes=age),
                    )
                )
            return conversations["old"]

        target_conversation = await live.gateway.db.write(add_menus)
        url = f"{live.url}/inbox/v2/contacts/{target}/merge"
        async with http.post(url, json={"sourceContactIds": [source]}) as answer:
            assert answer.status == 200, await answer.text()

    def menus(session: Session) -> list[MenuRow]:
        return list(session.exec(select(MenuRow)))

    [menu] = await live.gateway.db.read(menus)
    assert menu.conversation_id == target_conversation
    assert menu.message_id == "message-new"
    assert menu.choices == [{"label": "new", "interactionId": "NEW"}]
    assert aware(menu.created_at) == stamp - timedelta(minutes=1)
