"""What one web chat channel lets a client do, counted through the host's limits service.

Per client address (the gateway's `client_group`: the address, or its IPv6 /64) and for the
whole channel, so that neither one address nor many can flood the inbox: new sessions a
minute, visitor messages a minute (across every token of the address). Counting happens
before the work, through `ChannelHost.limits`, so limits hold across the gateway's nodes
whenever its limits service does.
"""

from __future__ import annotations

from adapters.webchat.config import WebchatConfig
from channels import Limits, WebhookRequest

#: the key every client shares, for the channel-wide limits
TOTAL = "*"
MINUTE = 60.0


def client_of(request: WebhookRequest) -> str:
    """The key a client is counted under: its address group, as the gateway made it."""
    return request.client_group or request.remote or "unknown"


class ChannelLimits:
    """The limits of one web chat channel."""

    def __init__(self, channel_id: str, limits: Limits, config: WebchatConfig) -> None:
        self._limits = limits
        self._config = config
        self._prefix = f"webchat:{channel_id}:"

    async def _take(self, bucket: str, client: str, per_client: int, total: int) -> float | None:
        name = self._prefix + bucket
        wait = await self._limits.take(name, client, limit=per_client, per_seconds=MINUTE)
        if wait is None:
            wait = await self._limits.take(name, TOTAL, limit=total, per_seconds=MINUTE)
        return wait

    async def new_session(self, client: str) -> float | None:
        """Count a new visitor session; None when allowed, else seconds to wait."""
        config = self._config
        return await self._take(
            "sessions", client, config.sessions_per_minute, config.sessions_per_minute_total
        )

    async def message(self, client: str) -> float | None:
        """Count a visitor's message or button press; None when allowed, else seconds to wait."""
        config = self._config
        return await self._take(
            "messages", client, config.messages_per_minute, config.messages_per_minute_total
        )
