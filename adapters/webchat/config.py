"""The `[channels.<id>]` table of a web chat channel."""

from __future__ import annotations

from pydantic import Field, field_validator

from adapters.webchat.origins import parse_origin
from channels import ChannelConfig


class WebchatConfig(ChannelConfig):
    """Settings of the built-in site chat."""

    #: sites allowed to embed the widget, each exactly `scheme://host[:port]`
    allowed_origins: list[str] = Field(min_length=1)
    #: shared with the site's server, which signs the user ids it vouches for
    identity_secret: str | None = Field(default=None, min_length=1)
    #: heading of the chat panel (a `data-title` on the script tag wins)
    title: str = Field(default="Chat with us", min_length=1, max_length=100)
    #: a visitor may send this many messages per `flood_seconds`
    flood_messages: int = Field(default=20, ge=1)
    flood_seconds: float = Field(default=10.0, gt=0)
    #: new visitor sessions a minute from one client address (IPv6: one /64), and in total
    sessions_per_minute: int = Field(default=60, ge=1, le=1_000_000)
    sessions_per_minute_total: int = Field(default=6000, ge=1, le=10_000_000)
    #: visitor messages (and button presses) a minute from one client address, across all of
    #: its tokens, and in total
    messages_per_minute: int = Field(default=100, ge=1, le=1_000_000)
    messages_per_minute_total: int = Field(default=30_000, ge=1, le=10_000_000)
    #: WebSockets open at once: per visitor token, per client address, and for the channel
    sockets_per_visitor: int = Field(default=20, ge=1, le=10_000)
    sockets_per_address: int = Field(default=500, ge=1, le=1_000_000)
    sockets_total: int = Field(default=10_000, ge=1, le=10_000_000)
    #: `sync` and `read` frames (and frames that are not understood) one visitor token may
    #: send per `read_sync_seconds`
    read_sync_frames: int = Field(default=30, ge=1, le=1_000_000)
    read_sync_seconds: float = Field(default=10.0, gt=0, le=3600)
    #: days a visitor's token stays valid after it was last renewed (the widget renews it on
    #: every page load, so a visitor who comes back within this many days keeps their chat)
    token_lifetime_days: float = Field(default=30.0, gt=0, le=3650)

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_exact(cls, value: list[str]) -> list[str]:
        for entry in value:
            if parse_origin(entry) is None:
                raise ValueError(
                    f"{entry!r} is not an origin; write scheme://host[:port] "
                    "(http or https, no path, no trailing slash)"
                )
        return value
