"""Storing a message that an API client or an agent sends, the same way from either door.

The message is stored in the next group commit. When one of the dispatcher's workers is free,
the same transaction claims its delivery and the worker sends it once the commit is done,
without waiting for the dispatcher's next look at the due deliveries.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.background import DISPATCHER
from gateway.clock import now
from gateway.outbound.rules import SendRequest
from gateway.outbound.send_many import STORE_SENDS, SendItem, Stored
from gateway.state import GATEWAY


async def store_send(
    request: web.Request,
    send: SendRequest,
    sender: tuple[str, str],
    *,
    token_name: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Store `send` (refused with `Refused` by the sendMessage rules); its `{"message": …}`."""
    gw = request.config_dict[GATEWAY]
    dispatcher = request.config_dict.get(DISPATCHER) if send.goes_out else None
    claim = dispatcher.reserve() if dispatcher is not None else None
    item = SendItem(
        send,
        sender=sender,
        now=now(),
        directory=gw.directory,
        token_name=token_name,
        idempotency_key=idempotency_key,
        claim=claim,
    )
    stored: Stored | None = None
    try:
        stored = await gw.db.write_batched(STORE_SENDS, item)
    finally:
        # (a store that failed, or was cancelled, gives the worker back; had it been committed
        # all the same, its claim lapses after the lease and the send goes out then)
        if dispatcher is not None and claim is not None:
            dispatcher.take(stored.job if stored is not None else None)
    if send.goes_out and stored.job is None:
        gw.feed.deliveries_due()
    return stored.answer
