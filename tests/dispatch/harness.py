"""A running gateway with a scriptable in-test adapter, and helpers to queue and watch sends."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from aiohttp import web
from sqlmodel import Session, select

from channels import (
    Capabilities,
    ChannelConfig,
    ChannelHost,
    ChannelType,
    MessageContent,
    OutboundPart,
    Participant,
    Route,
    SendError,
    SendResult,
)
from gateway.background import DISPATCHER, Options
from gateway.clock import now
from gateway.domain.participants import conversation_for
from gateway.events.feed import QueuedSend
from gateway.outbound.dispatcher import Dispatcher
from gateway.outbound.rules import SendRequest, send_message
from gateway.outbound.send_many import SendItem, store_sends
from gateway.outbound.sent import hand_over
from gateway.state import Gateway
from gateway.store.database import create_db_engine
from gateway.store.models import DeliveryRow, MessageRow
from tests.support.config import Channel, GatewayConfig, Webhook, channel
from tests.support.databases import sqlite_url
from tests.support.live import LiveGateway, live_gateway
from tests.support.polling import eventually

T = TypeVar("T")
_ids = itertools.count(1)


class FakeConfig(ChannelConfig):
    text_limit: int | None = None


@dataclass
class Script:
    """What the fake provider does: one queued outcome per call (None: accept), then accept."""

    errors: list[BaseException | None] = field(default_factory=list)
    #: every part it was asked to send, accepted or not
    calls: list[OutboundPart] = field(default_factory=list)
    #: the parts it accepted
    sent: list[OutboundPart] = field(default_factory=list)
    #: set to hold every send until released
    gate: asyncio.Event | None = None
    #: the time each accepted part went out is read from this clock
    clock: Callable[[], float] = time.monotonic
    #: when each part in `sent` was accepted, by `clock`
    times: list[float] = field(default_factory=list)


class FakeAdapter:
    """A channel whose provider is a list in memory (type `fake`, an SMS-like channel)."""

    type: ClassVar[str] = "fake"
    channel_type: ClassVar[ChannelType] = ChannelType.SMS
    Config: ClassVar[builtins.type[ChannelConfig]] = FakeConfig
    default_rate_per_second: ClassVar[float | None] = None

    def __init__(self, channel_id: str, config: FakeConfig, host: ChannelHost) -> None:
        self.channel_id = channel_id
        self.config = config
        self.host = host
        self.script = Script()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(text_limit=self.config.text_limit)

    def routes(self) -> Sequence[Route]:
        return ()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, part: OutboundPart) -> SendResult:
        self.script.calls.append(part)
        if self.script.gate is not None:
            await self.script.gate.wait()
        error = self.script.errors.pop(0) if self.script.errors else None
        if error is not None:
            raise error
        self.script.sent.append(part)
        self.script.times.append(self.script.clock())
        return SendResult(provider_message_id=f"{self.channel_id}-{next(_ids)}")

    async def lookup_profile(self, address: str) -> Participant | None:
        return None


def fake_channel(
    channel_id: str, rate: float | None = None, text_limit: int | None = None
) -> Channel:
    """A channel of the in-test adapter (`FakeAdapter`)."""
    return channel(channel_id, "fake", rate_per_second=rate, text_limit=text_limit)


Channels = str | Channel | Sequence[Channel]


def gateway_config(
    db: Path,
    channels: Channels = (),
    delays: Sequence[float] = (0.2,),
    workers: int = 4,
    extra: str = "",
    *,
    database_url: str | None = None,
    webhooks: Sequence[Webhook] = (),
    tokens: Mapping[str, str] | None = None,
    shutdown_grace: float | None = None,
) -> GatewayConfig:
    """The configuration of a dispatch test's gateway: channels (tables or TOML text) on the
    SQLite file `db` (or `database_url`), no business name, these retry delays and workers."""
    if isinstance(channels, str):
        extra, channels = f"{extra}\n{channels}", ()
    elif isinstance(channels, Channel):
        channels = [channels]
    return GatewayConfig(
        database_url=database_url or sqlite_url(db.parent, db.name),
        business_name=None,
        retry_delays=list(delays),
        workers=workers,
        channels=list(channels),
        webhooks=webhooks,
        tokens=tokens or {},
        shutdown_grace=shutdown_grace,
        extra=extra,
    )


def config_text(
    db: Path,
    channels: Channels = (),
    delays: Sequence[float] = (0.2,),
    workers: int = 4,
    extra: str = "",
    *,
    webhooks: Sequence[Webhook] = (),
) -> str:
    """The TOML of a dispatch test's gateway, for the command line."""
    return gateway_config(db, channels, delays, workers, extra, webhooks=webhooks).toml()


def fixed_jitter(low: float, high: float) -> float:
    """No jitter: every retry waits exactly its scheduled delay."""
    return 1.0


def text_content(text: str | None) -> dict[str, Any]:
    """A message's content on the wire: `text` (by default "hello") and nothing else."""
    return {"basic": {"items": [{"text": text or "hello"}]}}


@dataclass
class Running:
    """A started gateway with the in-test adapter, and helpers to queue and watch sends."""

    live: LiveGateway

    @property
    def app(self) -> web.Application:
        return self.live.app

    @property
    def url(self) -> str:
        return self.live.url

    @property
    def gateway(self) -> Gateway:
        return self.live.gateway

    def script(self, channel_id: str = "sms") -> Script:
        adapter = self.gateway.adapters[channel_id]
        assert isinstance(adapter, FakeAdapter)
        return adapter.script

    async def read(self, fn: Callable[[Session], T]) -> T:
        return await self.gateway.db.read(fn)

    async def queue(
        self,
        address: str,
        text: str | None = None,
        channel_id: str = "sms",
        content: dict[str, Any] | None = None,
    ) -> str:
        """Store a business message to `address` as the API does, and hand it to the
        dispatcher as the API does; its delivery is PENDING."""
        gw = self.gateway
        message_id = await gw.db.write(self.storing(address, text, channel_id, content))
        hand_over(gw, QueuedSend(message_id, channel_id))
        return message_id

    async def queue_through_another_node(
        self, address: str, text: str | None = None, channel_id: str = "sms", *, batched: bool
    ) -> str:
        """Store a business message to `address` as another node on the same PostgreSQL
        database does (connections of its own, nothing handed to this node's dispatcher):
        `batched` as its sendMessage does (`store_sends`), else as its inbox page does."""
        if not batched:
            return await self.write_as_another_node(self.storing(address, text, channel_id))
        directory = self.gateway.directory

        def store(session: Session) -> str:
            conversation, _, _ = conversation_for(session, channel_id, Participant(address))
            request = SendRequest(
                conversation.id,
                MessageContent.model_validate(text_content(text)),
                target_channel_ids=[channel_id],
            )
            [answer] = store_sends(
                session, [SendItem(request, ("appId", "tests"), now(), directory)]
            )
            return str(answer["message"]["id"])

        return await self.write_as_another_node(store)

    async def write_as_another_node(self, write: Callable[[Session], T]) -> T:
        """Commit `write` on connections of its own, as another node on the same PostgreSQL
        database does."""

        def commit() -> T:
            engine = create_db_engine(self.gateway.db.url)
            try:
                with Session(engine) as session:
                    result = write(session)
                    session.commit()
                return result
            finally:
                engine.dispose()

        return await asyncio.to_thread(commit)

    def storing(
        self,
        address: str,
        text: str | None = None,
        channel_id: str = "sms",
        content: dict[str, Any] | None = None,
    ) -> Callable[[Session], str]:
        """The write that stores a business message to `address`, as the API's does."""
        wire = content or text_content(text)
        directory = self.gateway.directory

        def store(session: Session) -> str:
            conversation, _, _ = conversation_for(session, channel_id, Participant(address))
            message, _ = send_message(
                session,
                directory,
                SendRequest(
                    conversation.id,
                    MessageContent.model_validate(wire),
                    target_channel_ids=[channel_id],
                ),
                sender=("appId", "tests"),
                now=now(),
            )
            return message.id

        return store

    async def conversation(self, address: str, channel_id: str = "sms") -> str:
        """The id of the conversation with `address` on the channel (started if new)."""

        def find(session: Session) -> str:
            return conversation_for(session, channel_id, Participant(address))[0].id

        return await self.gateway.db.write(find)

    async def dispatcher_by_hand(self) -> Dispatcher:
        """The gateway's dispatcher with its own loop stopped: the test runs its rounds (or its
        claims), one at a time, from the state a sequence of events leaves (which its timing
        makes rare)."""
        dispatcher = self.app[DISPATCHER]
        task = dispatcher._task
        assert task is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return dispatcher

    async def retry_at(self, message_id: str, when: datetime) -> None:
        """Make the delivery wait for a retry due at `when`, as a failed attempt leaves it."""
        await self._due_at({message_id: when}, tried=True)

    async def stamp_due_at(self, stamps: Mapping[str, datetime]) -> None:
        """Stamp never-tried deliveries due at these times, as nodes whose clocks are apart
        stamp the sends they accept."""
        await self._due_at(stamps)

    async def stamp_due_backwards(self, message_ids: Sequence[str]) -> None:
        """Make the deliveries due already, each stamped a little earlier than the one before:
        as nodes whose clocks are a little apart, or which took them at the same moment,
        stamp sends out of the conversation's order."""
        stamp = now() - timedelta(seconds=1)
        back = timedelta(milliseconds=10)
        await self._due_at({m: stamp - back * n for n, m in enumerate(message_ids)})

    async def _due_at(self, stamps: Mapping[str, datetime], tried: bool = False) -> None:
        """Set when each delivery's next attempt is due, in one write (`tried`: after a
        failed attempt)."""

        def stamp(session: Session) -> None:
            for message_id, when in stamps.items():
                row = session.get(DeliveryRow, message_id)
                assert row is not None
                row.next_attempt_at = when
                if tried:
                    row.attempts = max(row.attempts, 1)
                session.add(row)

        await self.gateway.db.write(stamp)

    async def delivery(self, message_id: str) -> DeliveryRow:
        row = await self.read(lambda s: s.get(DeliveryRow, message_id))
        assert row is not None
        return row

    async def retry_timed(self, message_id: str) -> bool:
        """Whether the delivery of `message_id` was tried, refused, and waits for its retry."""
        row = await self.delivery(message_id)
        return row.status == "PENDING" and row.attempts == 1 and row.claimed_until is None

    async def leave_a_reply(self, left: str, address: str, text: str) -> str:
        """Queue a reply on `chat` that its provider refuses for now (`refused`: its retry is
        timed) or never answers (`unanswered`), and wait until it is so; its message id."""
        chat = self.script("chat")
        if left == "refused":
            chat.errors.append(SendError("busy", retryable=True))
        else:
            chat.gate = asyncio.Event()  # never opened
        message_id = await self.queue(address, text, channel_id="chat")
        if left == "refused":
            await eventually(lambda: self.retry_timed(message_id))
        else:
            await eventually(lambda: chat.calls)
        return message_id

    async def notes(self) -> list[str]:
        """The texts of the system notes the gateway wrote, oldest first."""
        rows = await self.read(
            lambda s: list(s.exec(select(MessageRow).order_by(MessageRow.created_at)))  # type: ignore[arg-type]
        )
        return [r.content["system"]["text"] for r in rows if "system" in r.content]


@asynccontextmanager
async def running(
    db: Path,
    channels: Channels | None = None,
    *,
    delays: Sequence[float] = (0.2, 0.4, 0.8),
    workers: int = 4,
    extra: str = "",
    options: Options | None = None,
    adapters: dict[str, type[Any]] | None = None,
    database_url: str | None = None,
    webhooks: Sequence[Webhook] = (),
    tokens: Mapping[str, str] | None = None,
    shutdown_grace: float | None = None,
) -> AsyncIterator[Running]:
    """A started gateway on the SQLite file `db` (or `database_url`) with these channels
    (default: a fake `sms`), sending through `adapters` (default: the in-test `fake` type)."""
    config = gateway_config(
        db,
        fake_channel("sms") if channels is None else channels,
        delays,
        workers,
        extra,
        database_url=database_url,
        webhooks=webhooks,
        tokens=tokens,
        shutdown_grace=shutdown_grace,
    )
    async with live_gateway(
        config,
        adapter_classes=adapters or {"fake": FakeAdapter},
        options=options or Options(uniform=fixed_jitter, sweep_seconds=0.2),
    ) as live:
        yield Running(live)
