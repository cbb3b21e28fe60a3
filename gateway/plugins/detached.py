"""A host for adapters that are built only to be described, never run (`inbox-gateway adapters`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from channels import (
    InboundEvent,
    IngestOutcome,
    InMemoryLimits,
    Limits,
    Participant,
    Session,
    Subscription,
    VerifiedIdentity,
)


class DetachedHost:
    """A `ChannelHost` that refuses every call: the channel is looked at, not started."""

    public_url = ""

    def __init__(self, channel_id: str) -> None:
        self.channel_id = channel_id
        # counting is harmless; nothing that counts runs on a channel only described
        self.limits: Limits = InMemoryLimits()

    def _refuse(self) -> NoReturn:
        raise RuntimeError(f"channel {self.channel_id} is only being described, not run")

    async def ingest(self, events: Sequence[InboundEvent]) -> list[IngestOutcome]:
        self._refuse()

    async def open_session(
        self,
        participant: Participant,
        *,
        verified: VerifiedIdentity | None = None,
        previous: Participant | None = None,
        carry_id: Callable[[str], str] | None = None,
    ) -> Session:
        self._refuse()

    async def history(self, participant: Participant, after_sequence: int) -> list[dict[str, Any]]:
        self._refuse()

    def subscribe(self, participant: Participant) -> Subscription:
        self._refuse()

    def secret(self, name: str) -> bytes:
        self._refuse()
