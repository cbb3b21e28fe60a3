"""A batch of provider statuses never moves a status back, even when what it read is stale.

Its UPDATEs name the statuses a row may leave, so a later status that another writer stored
after the batch read the rows stays, whoever wrote it; a status ahead of the row's still
moves it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from channels import DeliveryStatus
from gateway.clock import now
from gateway.domain.many_statuses import PartStatus, _apply, _Delivery, _Part
from gateway.store import migrate
from gateway.store.database import create_db_engine
from gateway.store.models import DeliveryPartRow, DeliveryRow
from tests.support.rows import business_reply

SENT, DELIVERED, READ = DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def sent_reply(engine: Engine, message_id: str, status: DeliveryStatus) -> int:
    """A reply of one part, stored with `status`; answers the part's id."""
    stamp = now()
    with Session(engine) as session:
        session.add(business_reply(message_id, stamp, int(message_id[1:])))
        session.add(
            DeliveryRow(
                message_id=message_id,
                conversation_id="c1",
                channel_id="sms",
                recipient="+15550001111",
                status=status.value,
                parts_total=1,
                parts_sent=1,
                provider_message_ids=[f"SM-{message_id}"],
                updated_at=stamp,
            )
        )
        part = DeliveryPartRow(
            message_id=message_id,
            channel_id="sms",
            part_index=0,
            provider_message_id=f"SM-{message_id}",
            status=status.value,
        )
        session.add(part)
        session.commit()
        assert part.id is not None
        return part.id


def read_as_sent(message_id: str, part_id: int) -> tuple[_Delivery, _Part]:
    """The delivery and its part as a batch that read them while they were SENT saw them."""
    delivery = _Delivery(
        message_id, "c1", "sms", SENT.value, None, None, [f"SM-{message_id}"], 1, 1, now()
    )
    return delivery, _Part(part_id, message_id, f"SM-{message_id}", SENT.value)


def stored(engine: Engine, message_id: str) -> tuple[str, str]:
    with Session(engine) as session:
        delivery = session.get(DeliveryRow, message_id)
        part = session.exec(
            select(DeliveryPartRow).where(DeliveryPartRow.message_id == message_id)
        ).one()
        assert delivery is not None
        return delivery.status, part.status


def test_a_batch_that_read_stale_statuses_moves_none_back(engine: Engine) -> None:
    # m1 was READ by the time the batch wrote; m2 is still SENT
    stale = {m: read_as_sent(m, sent_reply(engine, m, s)) for m, s in [("m1", READ), ("m2", SENT)]}
    with Session(engine) as session:
        _apply(
            session,
            [PartStatus(f"SM-{m}", DELIVERED) for m in stale],
            {f"SM-{m}": m for m in stale},
            {m: delivery for m, (delivery, _) in stale.items()},
            {m: [part] for m, (_, part) in stale.items()},
        )
        session.commit()
    assert stored(engine, "m1") == (READ.value, READ.value)
    assert stored(engine, "m2") == (DELIVERED.value, DELIVERED.value)
