"""What one web chat channel lets a client do, counted through the host's limits service.

Per client address (the gateway's `client_group`: the address, or its IPv6 /64) and for the
whole channel, so that neither one address nor many can flood the inbox: new sessions a
minute, visitor messages a minute (across every token of the address), open sockets. Per
visitor token: open sockets, and the `sync` and `read` frames that make the gateway read or
write. Counting happens before the work, through `ChannelHost.limits`, so limits hold
across the gateway's nodes whenever its limits service does.
"""

from __future__ import annotations

from adapters.webchat.config import WebchatConfig
from channels import Limits, Participant, WebhookRequest

#: the key every client shares, for the channel-wide limits
TOTAL = "*"
MINUTE = 60.0


def client_of(request: WebhookRequest) -> str:
    """The key a client is counted under: its address group, as the gateway made it."""
    return request.client_group or request.remote or "unknown"


def visitor_of(participant: Participant) -> str:
    """The key a visitor token is counted under (anonymous and identified kept apart)."""
    return ("a:" if participant.anonymous else "u:") + participant.address


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

    async def open_socket(self, visitor: str, client: str) -> bool:
        """Hold a socket place for the visitor, their address and the channel; False (nothing
        held) when any is full."""
        config = self._config
        wanted = [
            ("sockets-per-visitor", visitor, config.sockets_per_visitor),
            ("sockets-per-address", client, config.sockets_per_address),
            ("sockets-total", TOTAL, config.sockets_total),
        ]
        held: list[tuple[str, str]] = []
        for bucket, key, capacity in wanted:
            if not await self._limits.acquire(self._prefix + bucket, key, capacity=capacity):
                for taken in reversed(held):
                    await self._limits.release(*taken)
                return False
            held.append((self._prefix + bucket, key))
        return True

    async def close_socket(self, visitor: str, client: str) -> None:
        """Give back the places `open_socket` held."""
        await self._limits.release(self._prefix + "sockets-per-visitor", visitor)
        await self._limits.release(self._prefix + "sockets-per-address", client)
        await self._limits.release(self._prefix + "sockets-total", TOTAL)

    async def read_or_sync(self, visitor: str) -> bool:
        """Count a `sync` or `read` frame of the visitor's; False when over the limit."""
        config = self._config
        wait = await self._limits.take(
            self._prefix + "read-sync",
            visitor,
            limit=config.read_sync_frames,
            per_seconds=config.read_sync_seconds,
        )
        return wait is None
