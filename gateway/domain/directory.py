"""What the domain needs to know of each configured channel, without touching adapters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from channels import Capabilities


@dataclass(frozen=True)
class ChannelInfo:
    channel_id: str
    adapter_type: str
    channel_type: str
    capabilities: Capabilities
    #: sends are recorded SENT in the commit that stores them: the adapter is
    #: `SentWhenStored` and the channel unpaced
    sent_when_stored: bool = False


Directory = Mapping[str, ChannelInfo]


def sent_when_stored(directory: Directory, channel_id: str) -> bool:
    """Whether a send on the channel is recorded SENT in the commit that stores it."""
    info = directory.get(channel_id)
    return info is not None and info.sent_when_stored
