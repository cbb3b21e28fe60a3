"""The provider id a visitor's message is stored under: one per visitor and clientMessageId,
so that the widget's resend of a message whose ack it missed is stored once."""

from __future__ import annotations

import hashlib

from channels import LONGEST

#: what the gateway keeps of a provider message id
_LONGEST_KEY = LONGEST["provider_message_id"]


def message_key(address: str, client_message_id: str) -> str:
    """The id of visitor `address`'s message `client_message_id`, at most 255 characters and
    never the same for two visitors.

    Most keys keep the form earlier versions stored, `address:clientMessageId`, so that a
    message sent just before an upgrade and resent just after is still found. That form is
    used only where it parses one way (no ':' on either side) and fits the column; any other
    pair (a long or ':'-holding user id of an identified visitor, a ':' in the id a client
    chose) is a digest of both, which holds no ':' and so never meets a key of the first form.
    """
    plain = f"{address}:{client_message_id}"
    if ":" not in address and ":" not in client_message_id and len(plain) <= _LONGEST_KEY:
        return plain
    # the address's length first: the two texts then split one way only
    pair = f"{len(address)}.{address}{client_message_id}".encode()
    return "sha256-" + hashlib.sha256(pair).hexdigest()


def carried_key(key: str, previous: str, address: str) -> str:
    """The key of a message visitor `previous` stored as `key`, now that the site identified
    them as `address`: their resend of it (the widget resends what it had no ack for, on the
    identified socket) is the same message, and a later one on the anonymous address (a token
    copied before they signed in) is not.
    """
    head = previous + ":"
    client_message_id = key[len(head) :]
    if ":" not in previous and key.startswith(head) and ":" not in client_message_id:
        return message_key(address, client_message_id)
    # a digest, whose clientMessageId cannot be read back: no one's resend finds it again
    return "carried-" + hashlib.sha256(key.encode()).hexdigest()
