"""Facebook Messenger: a Page's conversations through Meta's webhook and Send API."""

from adapters.messenger.adapter import MessengerAdapter
from adapters.messenger.config import MessengerConfig

__all__ = ["MessengerAdapter", "MessengerConfig"]
