"""A status callback that reaches one node while another node is recording the send it
reports on is applied all the same.

The two transactions run side by side on PostgreSQL, and neither sees the other's row before
it commits: the status is kept for a part "not recorded yet", and the record finds nothing
kept to apply. The sweep of kept statuses applies it afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.twilio.fake import FakeTwilio
from channels import Capabilities, DeliveryStatus, StatusUpdate
from gateway.background import alone
from gateway.clock import now
from gateway.domain.directory import ChannelInfo, Directory
from gateway.inbound.ingest import ingest_events
from gateway.outbound.record import kept_status_settler, kept_statuses_recorded
from gateway.outbound.sent import SentPart, record_sent
from gateway.store import migrate
from gateway.store.database import create_db_engine
from gateway.store.models import DeliveryRow, EarlyStatusRow, EventRow
from tests.nodes.cluster import api, two_nodes
from tests.support import fresh_postgres
from tests.support.polling import eventually
from tests.support.rows import business_reply

DIRECTORY: Directory = {"sms": ChannelInfo("sms", "twilio", "sms", Capabilities())}
PROVIDER_ID = "SM00000000000000000000000000000001"


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    with fresh_postgres(postgres_url) as url:
        engine = create_db_engine(url)
        try:
            migrate.upgrade(engine)
            yield engine
        finally:
            engine.dispose()


def claimed_reply(engine: Engine) -> None:
    """A reply whose delivery a node has claimed and is handing to the provider."""
    stamp = now()
    with Session(engine) as session:
        session.add(business_reply("m1", stamp))
        session.add(
            DeliveryRow(
                message_id="m1",
                conversation_id="c1",
                channel_id="sms",
                recipient="+15550001111",
                status=DeliveryStatus.PENDING.value,
                next_attempt_at=stamp,
                claimed_until=stamp + timedelta(minutes=1),
                updated_at=stamp,
            )
        )
        session.commit()


def status_of(engine: Engine) -> str:
    with Session(engine) as session:
        delivery = session.get(DeliveryRow, "m1")
        assert delivery is not None
        return delivery.status


def test_a_status_committed_beside_its_record_is_applied_by_the_sweep(engine: Engine) -> None:
    claimed_reply(engine)
    sent = SentPart(
        message_id="m1",
        index=0,
        total=1,
        provider_message_id=PROVIDER_ID,
        status=DeliveryStatus.SENT,
        lease=timedelta(minutes=1),
        handed_over_at=now(),
        directory=DIRECTORY,
        finish_with=[],
    )
    delivered = StatusUpdate(status=DeliveryStatus.DELIVERED, provider_message_id=PROVIDER_ID)
    with Session(engine) as recording_node, Session(engine) as status_node:
        record_sent(recording_node, [sent])
        recording_node.flush()
        # the callback reaches the other node before the record is committed
        ingest_events(status_node, "sms", [delivered], DIRECTORY)
        status_node.flush()
        recording_node.commit()
        status_node.commit()

    # what the race leaves: the delivery SENT, and the status kept for a part "not recorded"
    assert status_of(engine) == DeliveryStatus.SENT.value
    with Session(engine) as session:
        assert kept_statuses_recorded(session)

    with Session(engine) as session:
        settled = alone("kept-statuses", kept_status_settler(DIRECTORY), 0)(session)
        session.commit()
    assert settled == 1
    assert status_of(engine) == DeliveryStatus.DELIVERED.value
    with Session(engine) as session:
        assert session.exec(select(EarlyStatusRow)).all() == []
        assert not kept_statuses_recorded(session)
        # subscribers and the inbox page hear of it as of any status
        updates = session.exec(
            select(EventRow).where(EventRow.slug == "message_delivery_updated")
        ).all()
        assert [e.body["delivery"]["status"] for e in updates] == ["SENT", "DELIVERED"]


async def test_a_running_node_applies_a_status_kept_beside_its_record(
    postgres_url: str, tmp_path: Path, twilio: FakeTwilio
) -> None:
    """The sweep runs in the daemon: a reply sent and recorded through node A, then the row
    the other node's status transaction left (the status kept, as if its part were not
    recorded yet), and the API shows the reply DELIVERED without another callback."""
    async with two_nodes(postgres_url, tmp_path, twilio) as (a, _), aiohttp.ClientSession() as http:
        phone = {"channelId": "sms", "address": "+15550002222"}
        contact = await api(http, a, "/contacts", {"displayName": "Ann", "identities": [phone]})
        participant = {"participantId": {"contactId": contact["contact"]["id"]}}
        conversation = (await api(http, a, "/conversations", participant))["conversation"]
        content = {"basic": {"items": [{"text": "Your order has shipped"}]}}
        body = {"conversationId": conversation["id"], "message": {"content": content}}
        message_id = (await api(http, a, "/messages", body))["message"]["id"]

        async def delivery_in(status: DeliveryStatus) -> dict[str, Any] | None:
            url = f"{a.url}/inbox/v2/messages/{message_id}"
            async with http.get(url, headers=a.auth) as response:
                found: dict[str, Any] = (await response.json())["message"]["delivery"]
            return found if found["status"] == status.value else None

        sent = await eventually(lambda: delivery_in(DeliveryStatus.SENT))
        engine = create_db_engine(a.config.database_url)
        try:
            with Session(engine) as session:
                session.add(
                    EarlyStatusRow(
                        channel_id="sms",
                        provider_message_id=sent["providerMessageIds"][0],
                        status=DeliveryStatus.DELIVERED.value,
                        received_at=now(),
                    )
                )
                session.commit()
        finally:
            engine.dispose()
        await eventually(lambda: delivery_in(DeliveryStatus.DELIVERED))
