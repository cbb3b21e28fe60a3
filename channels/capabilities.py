"""What a channel can show, as data, so that one `render()` serves every channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

MediaKind = Literal["image", "file", "video", "audio"]


@dataclass(frozen=True)
class Capabilities:
    """The limits and native features of one channel.

    A feature a channel lacks is degraded by `render()`: into text, a link on its own line or
    a numbered choice. Limits of `None` mean "no limit".
    """

    #: the channel shows canonical content as it is (the built-in web chat): no rendering
    native_content: bool = False
    #: longest text of one outbound part, in characters
    text_limit: int | None = None
    #: media kinds sent as native attachments; others become links
    media: frozenset[MediaKind] = frozenset()
    #: how many media one outbound part may carry (MMS: 10)
    media_per_part: int = 1
    #: media may ride in the same part as text (MMS); otherwise each is its own part
    media_with_text: bool = False
    #: native cards (Messenger's generic template)
    cards: bool = False
    card_title_limit: int = 80
    card_subtitle_limit: int = 80
    #: buttons one card (or button message) can carry; link and postback buttons alike
    card_buttons_max: int = 0
    #: longest label a card button may show (Messenger: 20); None means no limit
    card_button_title_limit: int | None = None
    #: native quick replies: how many, and how long a title may be
    quick_replies_max: int = 0
    quick_reply_title_limit: int = 20
    #: the channel links a reply to its button by itself; otherwise numbered choices
    native_postbacks: bool = False
    #: how long after the participant's last message the business may write (Messenger: 24 h)
    messaging_window: timedelta | None = None
    #: the longer window for human agents (Messenger's HUMAN_AGENT tag), when enabled
    agent_window: timedelta | None = None
    #: free-form notes on what the channel shows, listed per configured channel by
    #: `inbox-gateway adapters --config FILE`
    notes: tuple[str, ...] = field(default_factory=tuple)
