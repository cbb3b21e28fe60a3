"""The Twilio SMS/MMS adapter (and, in `fake`, a loopback Twilio for tests and the sandbox)."""

from adapters.twilio.adapter import TwilioAdapter
from adapters.twilio.config import TwilioConfig

__all__ = ["TwilioAdapter", "TwilioConfig"]
