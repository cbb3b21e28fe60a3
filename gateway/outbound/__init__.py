"""Delivery in the background: the dispatcher, outgoing webhooks and the scheduler's sweeps."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Run the dispatcher, the webhook sender and the scheduler while the app runs."""
    # imported here: the webhook modules use `gateway.backoff`, which imports this
    from gateway.engine import engine_context

    app.cleanup_ctx.append(engine_context)
