"""A long message one of whose parts already failed is announced FAILED, never SENT."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import Session, col, select

from channels import DeliveryStatus, OutboundPart, SendResult, StatusUpdate
from gateway.store.models import EventRow
from tests.dispatch.harness import FakeAdapter, fake_channel, running
from tests.support.polling import eventually


class NamedPartsAdapter(FakeAdapter):
    """Answers each part with an id the test knows in advance: `<message id>-<part index>`."""

    async def send(self, part: OutboundPart) -> SendResult:
        await super().send(part)
        return SendResult(provider_message_id=f"{part.message_id}-{part.index}")


async def test_a_failed_first_part_fails_the_message_with_its_error(tmp_path: Path) -> None:
    text = " ".join(f"word{i}" for i in range(30))
    async with running(
        tmp_path / "db.sqlite",
        fake_channel("sms", text_limit=40),
        adapters={"fake": NamedPartsAdapter},
    ) as run:
        script = run.script()
        script.gate = asyncio.Event()
        message_id = await run.queue("+15550002222", text)
        # the provider's failure callback for part 0 beats its answer to the send
        adapter = run.gateway.adapters["sms"]
        assert isinstance(adapter, FakeAdapter)
        await adapter.host.ingest(
            [
                StatusUpdate(
                    status=DeliveryStatus.FAILED,
                    provider_message_id=f"{message_id}-0",
                    error_code="30006",
                    error_message="Landline or unreachable carrier",
                )
            ]
        )
        script.gate.set()

        async def failed() -> bool:
            return (await run.delivery(message_id)).status == DeliveryStatus.FAILED.value

        await eventually(failed)
        row = await run.delivery(message_id)
        assert len(script.sent) > 1 and row.parts_sent == row.parts_total == len(script.sent)
        assert row.error_code == "30006"
        assert row.error_message == "Landline or unreachable carrier"

        def updates(session: Session) -> list[str]:
            query = (
                select(EventRow)
                .where(EventRow.slug == "message_delivery_updated")
                .order_by(col(EventRow.seq))
            )
            return [e.body["delivery"]["status"] for e in session.exec(query)]

        assert await run.read(updates) == ["FAILED"]
        notes = await run.notes()
        assert len(notes) == 1 and "Landline or unreachable carrier" in notes[0]
