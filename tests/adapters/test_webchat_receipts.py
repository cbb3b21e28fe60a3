"""A visitor's receipt (DELIVERED) is written once the send it confirms is recorded."""

from __future__ import annotations

from adapters.webchat.receipts import AFTER_SEND, AT_MOST, Receipts
from channels import DeliveryStatus, StatusUpdate
from channels.testing import RecordingHost
from tests.support.polling import eventually


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def written(host: RecordingHost) -> list[tuple[str, DeliveryStatus]]:
    return [(e.provider_message_id, e.status) for e in host.events if isinstance(e, StatusUpdate)]


async def test_a_receipt_waits_for_its_send_then_is_written_once() -> None:
    host, clock = RecordingHost(channel_id="chat"), Clock()
    receipts = Receipts(host, clock=clock)
    receipts.add(["m1", "m1"])  # two tabs got it before the dispatcher sent it
    clock.now += AT_MOST / 2
    receipts.add(["m1"])
    assert written(host) == []  # not sent yet: a receipt now would beat the send's record
    receipts.sent("m1")
    clock.now += AFTER_SEND
    await eventually(lambda: written(host))
    await receipts.stop()
    assert written(host) == [("m1", DeliveryStatus.DELIVERED)]


async def test_a_receipt_for_a_message_sent_before_the_page_got_it_is_written() -> None:
    host, clock = RecordingHost(channel_id="chat"), Clock()
    receipts = Receipts(host, clock=clock)
    receipts.sent("m2")
    clock.now += AFTER_SEND
    receipts.add(["m2"])
    await eventually(lambda: written(host))
    assert written(host) == [("m2", DeliveryStatus.DELIVERED)]
    await receipts.stop()


async def test_a_receipt_whose_send_is_not_seen_here_is_written_after_a_while() -> None:
    host, clock = RecordingHost(channel_id="chat"), Clock()
    receipts = Receipts(host, clock=clock)
    receipts.add(["m3"])  # sent by another node
    clock.now += AT_MOST
    await eventually(lambda: written(host))
    assert written(host) == [("m3", DeliveryStatus.DELIVERED)]
    await receipts.stop()


async def test_receipts_still_waiting_are_written_when_the_channel_stops() -> None:
    host = RecordingHost(channel_id="chat")
    receipts = Receipts(host, clock=Clock())
    receipts.add(["m4", "m5"])
    await receipts.stop()
    assert written(host) == [("m4", DeliveryStatus.DELIVERED), ("m5", DeliveryStatus.DELIVERED)]
