"""The built-in website chat: an embeddable widget and its WebSocket (SPEC section 7)."""

from adapters.webchat.adapter import WebchatAdapter
from adapters.webchat.config import WebchatConfig

__all__ = ["WebchatAdapter", "WebchatConfig"]
