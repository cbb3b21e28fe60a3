"""The gateway as adapters see it: one `ChannelHost` per configured channel."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from channels import (
    AddressRetired,
    InboundEvent,
    IngestOutcome,
    Participant,
    VerifiedIdentity,
    holds_unstorable,
)
from channels import (
    Session as ChatSession,
)
from channels.types import Visibility
from gateway.clock import now
from gateway.domain.merge_locks import lock_conversations_to_merge
from gateway.domain.messages import carry_provider_ids, merge_conversations
from gateway.domain.participant_view import for_participant, recorded_by_business
from gateway.domain.participants import (
    CONTACT,
    contact_for_verified,
    conversation_for,
    ensure_conversation,
    find_conversation,
    find_identity,
    owner_of,
    participant_of,
    retire_visitor,
)
from gateway.domain.records import message_wire
from gateway.domain.silent_visitors import forget_silent_visitors
from gateway.domain.unstorable import refuse_unstorable
from gateway.events.feed import Listener, message_of
from gateway.events.outbox import OutboxEvent
from gateway.inbound.batch import (
    LEARN_PROFILES,
    STORE_MESSAGES,
    STORE_STATUSES,
    InboundItem,
    ProfileItem,
    StatusItem,
    batchable,
    batchable_statuses,
)
from gateway.inbound.runs import STORE_MIXED, MixedItem
from gateway.metrics import Metrics
from gateway.state import Gateway
from gateway.store.models import MAX_IMAGE_URL, DeliveryRow, MessageRow

log = logging.getLogger(__name__)

#: messages one `history` answer carries at most; the widget (widget.js) asks again when full
HISTORY_PAGE = 500
#: anonymous visitors who never wrote are forgotten this long after their session opened
SILENT_VISITOR_AGE = timedelta(days=1)
#: each new anonymous visitor's session forgets up to this many silent ones (more than one,
#: so that they never pile up faster than they are forgotten)
SILENT_PER_NEW_VISITOR = 2


class ConversationFeed:
    """Messages visible to one participant, as they are stored (follows merges).

    A merge made through the API (contacts merged) brings the feed the target's messages.
    An anonymous visitor's conversation merges only when the site identifies them, and then
    the feed ends with `AddressRetired`: the identified person's conversation is not for
    their anonymous address, which may be a copy on a shared computer.
    """

    def __init__(
        self,
        gateway: Gateway,
        resolve: Callable[[], Awaitable[str]],
        opens_now: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        self._gateway = gateway
        self._resolve = resolve
        # an anonymous visitor's: the conversation their address opens now (read, never made)
        self._opens_now = opens_now
        # Until its conversation is known the listener takes every event (one may be this
        # visitor's); from then on the feed offers it only that conversation's.
        self._listener: Listener = gateway.feed.listen(self._accept)

    @staticmethod
    def _accept(event: OutboxEvent) -> bool:
        if event.slug == "conversations_merged":
            return True
        message = message_of(event)
        return (
            message is not None
            and message.get("visibility") == Visibility.BUSINESS_AND_PARTICIPANT.value
        )

    def __aiter__(self) -> ConversationFeed:
        return self

    async def __anext__(self) -> Mapping[str, Any]:
        # an async iterator rather than a generator: one object less for each open socket
        feed = self._gateway.feed
        if self._listener.conversations is None:
            feed.follow(self._listener, await self._resolve())
        async for event in self._listener:
            followed = self._listener.conversations or set()
            if event.slug == "conversations_merged":
                old = {str(c) for c in event.body.get("oldConversationIds") or ()}
                if old & followed and event.conversation_id is not None:
                    await self._merged_into(event.conversation_id)
                continue
            message = message_of(event)
            if message is not None and event.conversation_id in followed:
                participant = None
                if recorded_by_business(message):  # rare: read whose it is only then
                    participant = await self._participant(event.conversation_id)
                return for_participant(message, self._gateway.business, participant)
        raise StopAsyncIteration

    async def _participant(self, conversation_id: str) -> tuple[str, str] | None:
        return await self._gateway.db.read(lambda s: participant_of(s, conversation_id))

    async def _merged_into(self, target: str) -> None:
        """Follow the conversation a followed one merged into, unless the address lost it."""
        if self._opens_now is not None and await self._opens_now() != target:
            # The feed already offers the target's events (it follows merges for every
            # listener); none of them is handed on, and the adapter closes the subscription.
            raise AddressRetired
        # merged while the conversation was looked up: the feed could not know yet
        self._gateway.feed.follow(self._listener, target)

    def close(self) -> None:
        self._gateway.feed.unlisten(self._listener)


class GatewayHost:
    """Stores what one channel's adapter hands in; answers only after the commit."""

    def __init__(
        self,
        gateway: Gateway,
        channel_id: str,
        metrics: Metrics,
        master_secret: Callable[[], bytes],
    ) -> None:
        self.gateway = gateway
        self.channel_id = channel_id
        self.public_url = gateway.config.gateway.public_url
        self.metrics = metrics
        self.limits = gateway.limits
        self._master_secret = master_secret
        self._lookups: set[asyncio.Task[None]] = set()

    async def ingest(self, events: Sequence[InboundEvent]) -> list[IngestOutcome]:
        if not events:
            return []
        refuse_unstorable(events)
        directory = self.gateway.directory
        messages = batchable(events)
        statuses = batchable_statuses(events) if messages is None else None
        if messages is not None:
            item = InboundItem(self.channel_id, messages, directory)
            report = await self.gateway.db.write_batched(STORE_MESSAGES, item)
        elif statuses is not None:
            update = StatusItem(self.channel_id, statuses, directory)
            report = await self.gateway.db.write_batched(STORE_STATUSES, update)
        else:
            mixed = MixedItem(self.channel_id, events, directory)
            report = await self.gateway.db.write_batched(STORE_MIXED, mixed)
        self.metrics.messages_in.labels(self.channel_id).inc(report.stored_messages)
        for address in report.new_participants:
            self._look_up_later(address)
        return report.outcomes

    def _look_up_later(self, address: str) -> None:
        task = asyncio.create_task(self._look_up(address))
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _look_up(self, address: str) -> None:
        adapter = self.gateway.adapters.get(self.channel_id)
        if adapter is None:
            return
        try:
            profile = await adapter.lookup_profile(address)
        except Exception:
            log.warning("profile look-up failed on %s", self.channel_id, exc_info=True)
            return
        if profile is None or not profile.display_name:
            return
        if holds_unstorable([profile.display_name, profile.image_url]):
            log.warning("a profile from %s holds text no database keeps; not kept", self.channel_id)
            return
        if profile.image_url is not None and len(profile.image_url) > MAX_IMAGE_URL:
            profile = replace(profile, image_url=None)  # decoration: the name is still worth it
        try:
            item = ProfileItem(self.channel_id, profile)
            await self.gateway.db.write_batched(LEARN_PROFILES, item)
        except Exception:
            # nobody waits for this task: a failure is told here or never
            log.warning("keeping a profile from %s failed", self.channel_id, exc_info=True)

    async def open_session(
        self,
        participant: Participant,
        *,
        verified: VerifiedIdentity | None = None,
        previous: Participant | None = None,
        carry_id: Callable[[str], str] | None = None,
    ) -> ChatSession:
        # a verified visitor's name, email and phone come from the page, not the signature
        refuse_unstorable([participant, verified, previous])
        channel_id = self.channel_id

        def open_(session: Session) -> ChatSession:
            if verified is None:
                conversation, _, created = conversation_for(session, channel_id, participant)
                if created and participant.anonymous:
                    # swept at creation, in the same commit: each new visitor clears the way
                    cutoff = now() - SILENT_VISITOR_AGE
                    forget_silent_visitors(session, cutoff, SILENT_PER_NEW_VISITOR)
            else:
                contact = contact_for_verified(session, channel_id, verified)
                conversation, _ = ensure_conversation(session, CONTACT, contact.id)
                if previous is not None:
                    old = find_identity(session, channel_id, previous.address)
                    if old is not None:
                        old_conversation, _ = ensure_conversation(session, *owner_of(old))
                        merging = old_conversation.merged_into is None and (
                            old_conversation.id != conversation.id
                        )
                        if carry_id is not None and merging:
                            # Locked first, so that no message another node appends to the
                            # visitor's conversation meanwhile misses its new id; then, before
                            # the merge, the visitor's messages are still apart.
                            lock_conversations_to_merge(
                                session, conversation.id, [old_conversation.id]
                            )
                            carry_provider_ids(session, channel_id, old_conversation.id, carry_id)
                        # the person's conversation may have been merged on by another node
                        # while this waited: the visitor's went where it went
                        conversation = (
                            merge_conversations(session, conversation, [old_conversation])
                            or conversation
                        )
                        if old_conversation.merged_into == conversation.id:
                            retire_visitor(old_conversation)
            return ChatSession(
                conversation_id=conversation.id,
                participant_kind=conversation.participant_kind,  # type: ignore[arg-type]
                participant_id=conversation.participant_id,
            )

        return await self.gateway.db.write(open_)

    async def known_conversation_id(self, participant: Participant) -> str | None:
        """The participant's conversation if it exists (a read only)."""
        channel_id = self.channel_id

        def find(session: Session) -> str | None:
            identity = find_identity(session, channel_id, participant.address)
            found = find_conversation(session, *owner_of(identity)) if identity else None
            return found.id if found is not None else None

        return await self.gateway.db.read(find)

    async def conversation_id(self, participant: Participant) -> str:
        """The participant's conversation: read when it exists, created (a write) when not."""
        known = await self.known_conversation_id(participant)
        return known or (await self.open_session(participant)).conversation_id

    async def history(self, participant: Participant, after_sequence: int) -> list[dict[str, Any]]:
        """Messages the participant may see after a sequence, business messages signed by the
        business (never by the agent or the API token that wrote them)."""
        conversation_id = await self.conversation_id(participant)
        directory = self.gateway.directory
        business = self.gateway.business

        def read(session: Session) -> list[dict[str, Any]]:
            participant = participant_of(session, conversation_id)
            rows = session.exec(
                select(MessageRow, DeliveryRow)
                .join(
                    DeliveryRow,
                    col(DeliveryRow.message_id) == col(MessageRow.id),
                    isouter=True,
                )
                .where(
                    MessageRow.conversation_id == conversation_id,
                    MessageRow.visibility == Visibility.BUSINESS_AND_PARTICIPANT.value,
                    col(MessageRow.sequence) > after_sequence,
                )
                .order_by(col(MessageRow.sequence))
                .limit(HISTORY_PAGE)
            )
            return [
                for_participant(message_wire(m, d, directory), business, participant)
                for m, d in rows
            ]

        return await self.gateway.db.read(read)

    def subscribe(self, participant: Participant) -> ConversationFeed:
        async def resolve() -> str:
            return await self.conversation_id(participant)

        async def opens_now() -> str | None:
            return await self.known_conversation_id(participant)

        # only an anonymous address can be retired (by the visitor's identification)
        return ConversationFeed(self.gateway, resolve, opens_now if participant.anonymous else None)

    async def close(self) -> None:
        """Cancel profile look-ups still running (they would outlive the database)."""
        for task in list(self._lookups):
            task.cancel()
        await asyncio.gather(*self._lookups, return_exceptions=True)

    def secret(self, name: str) -> bytes:
        return hmac.new(self._master_secret(), name.encode(), hashlib.sha256).digest()
