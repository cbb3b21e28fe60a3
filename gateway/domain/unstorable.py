"""Text a database cannot hold (NUL characters, lone surrogates): refused at the door.

The check and its exception are part of the channel contract, so that adapters' test hosts
refuse exactly what the gateway refuses.
"""

from __future__ import annotations

from channels.text import UnstorableText, refuse_unstorable

__all__ = ["UnstorableText", "refuse_unstorable"]
