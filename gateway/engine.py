"""The background engine: the dispatcher, the webhook sender and the scheduler, as one resource."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from gateway.background import build_scheduler, quiet
from gateway.backoff import Schedule, Uniform
from gateway.events.subscribers.sender import DEFAULT_SCHEDULE, WebhookSender
from gateway.outbound.dispatcher import Dispatcher
from gateway.state import GATEWAY


@dataclass(frozen=True)
class Options:
    """Knobs a test (or an embedding application) may set before the app starts."""

    webhook_schedule: Schedule = DEFAULT_SCHEDULE
    uniform: Uniform = field(default=random.uniform)
    sweep_seconds: float = 1.0


@dataclass
class Engine:
    """The running background parts, reachable from the app for tests and metrics."""

    dispatcher: Dispatcher
    webhooks: WebhookSender


OPTIONS = web.AppKey("dispatch_options", Options)
ENGINE = web.AppKey("dispatch_engine", Engine)


async def engine_context(app: web.Application) -> AsyncIterator[None]:
    gateway = app[GATEWAY]
    options = app.get(OPTIONS) or Options()
    dispatcher = Dispatcher(gateway, uniform=options.uniform)
    async with aiohttp.ClientSession() as http:
        webhooks = WebhookSender(
            gateway, http, schedule=options.webhook_schedule, uniform=options.uniform
        )
        await dispatcher.start()
        try:
            await webhooks.start()
            try:
                quiet()
                scheduler = build_scheduler(
                    gateway, dispatcher.wake, webhooks.wake, options.sweep_seconds
                )
                scheduler.start()
                app[ENGINE] = Engine(dispatcher, webhooks)
                try:
                    yield
                finally:
                    scheduler.shutdown(wait=False)
            finally:
                await webhooks.stop()
        finally:
            await dispatcher.stop()
