"""The aiohttp application: one `build_app(config)` factory, one cleanup context per resource."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import CONTENT_TYPE_LATEST

from channels import Adapter, Route, SentWhenStored
from gateway import background
from gateway.clock import new_id
from gateway.config import Config, database_url, spool_folder
from gateway.content_coding import coding_refused, undecodable, unread_coding
from gateway.domain.directory import ChannelInfo
from gateway.domain.records import Business
from gateway.events.feed import EventFeed
from gateway.limits import InMemoryLimits, Limits
from gateway.listener import TimedAppRunner
from gateway.logs import quiet_client_faults, request_id
from gateway.metrics import exposition
from gateway.plugins.host import GatewayHost
from gateway.plugins.registry import ChannelSpec, channel_specs
from gateway.plugins.routes import SPOOL, SPOOLED_ROUTES, mount_routes, too_large
from gateway.state import GATEWAY, Gateway
from gateway.store import migrate
from gateway.store.database import RETRY_AFTER_SECONDS, Database, unreachable
from gateway.store.secrets import master_secret
from gateway.store.shared_limits import PostgresLimits
from gateway.store.spool import Spool
from gateway.web import api, inbox

log = logging.getLogger(__name__)

#: the adapters' hosts, closed before the adapters stop
HOSTS = web.AppKey("hosts", list[GatewayHost])


def daemon_runner(app: web.Application, **kwargs: Any) -> TimedAppRunner:
    """The runner that serves an application `build_app` made, with the read timeouts of its
    configuration (`kwargs`: aiohttp's runner options, `access_log=None` say)."""
    settings = app[GATEWAY].config.gateway
    return TimedAppRunner(
        app, header_timeout=settings.header_timeout, body_timeout=settings.body_timeout, **kwargs
    )


def build_app(
    config: Config, *, adapter_classes: dict[str, type[Any]] | None = None
) -> web.Application:
    """The whole daemon as one aiohttp application (nothing runs until it starts)."""
    specs = channel_specs(config, adapter_classes)
    if config.gateway.public_url.startswith("https://") and not config.gateway.trusted_proxies:
        log.warning(
            "public_url is https but gateway.trusted_proxies is empty: behind a TLS terminator "
            "every client shares the proxy's address, so per-address limits count them as one"
        )
    quiet_client_faults()
    db = Database(database_url(config))
    # on PostgreSQL every node counts in the database, so limits hold across nodes
    limits: Limits = (
        PostgresLimits(db) if db.engine.dialect.name == "postgresql" else InMemoryLimits()
    )
    gateway = Gateway(
        config=config,
        db=db,
        feed=EventFeed(db, fallback_poll=config.database.poll_seconds),
        business=Business(config.gateway.business_name, config.gateway.business_image_url or None),
        rates={s.channel_id: s.rate_per_second for s in specs},
        limits=limits,
    )
    db.writer.on_settled.append(gateway.metrics.writer_settled)
    app = web.Application(
        client_max_size=config.gateway.max_body_bytes,
        middlewares=[request_context],
    )
    app[GATEWAY] = gateway
    app[HOSTS] = []
    app[SPOOL] = Spool(spool_folder(config))
    app[SPOOLED_ROUTES] = {}
    app.cleanup_ctx.append(database_context)
    app.cleanup_ctx.append(limits_context)
    app.cleanup_ctx.append(feed_context)
    for spec in specs:
        adapter = _build_adapter(app, gateway, spec)
        gateway.adapters[spec.channel_id] = adapter
        gateway.directory[spec.channel_id] = ChannelInfo(
            channel_id=spec.channel_id,
            adapter_type=adapter.type,
            channel_type=str(adapter.channel_type),
            capabilities=adapter.capabilities,
            sent_when_stored=isinstance(adapter, SentWhenStored)
            and not gateway.rates.get(spec.channel_id),
        )
        routes: list[Route] = list(adapter.routes())
        mount_routes(app, spec.channel_id, routes, config.gateway.max_body_bytes)
    app.cleanup_ctx.append(adapters_context)
    app.cleanup_ctx.append(spool_context)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", _to_inbox)
    api.setup(app)
    background.setup(app)
    inbox.setup(app)
    return app


async def _to_inbox(_: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/inbox/")


def _build_adapter(app: web.Application, gateway: Gateway, spec: ChannelSpec) -> Adapter:
    host = GatewayHost(gateway, spec.channel_id, gateway.metrics, lambda: gateway.master_secret)
    app[HOSTS].append(host)
    return spec.build(host)


async def database_context(app: web.Application) -> AsyncIterator[None]:
    gateway = app[GATEWAY]
    db = gateway.db
    await _in_thread(lambda: migrate.upgrade(db.engine))
    await db.start()
    gateway.master_secret = await db.write(master_secret)
    yield
    await db.close()


async def limits_context(app: web.Application) -> AsyncIterator[None]:
    limits = app[GATEWAY].limits
    if not isinstance(limits, PostgresLimits):
        yield
        return
    await limits.start()
    yield
    await limits.stop()


async def feed_context(app: web.Application) -> AsyncIterator[None]:
    feed = app[GATEWAY].feed
    await feed.start()
    yield
    await feed.stop()


async def adapters_context(app: web.Application) -> AsyncIterator[None]:
    gateway = app[GATEWAY]
    started: list[Adapter] = []
    try:
        for adapter in gateway.adapters.values():
            await adapter.start()
            started.append(adapter)
        yield
    finally:
        for host in app[HOSTS]:
            await host.close()
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping adapter %s failed", adapter.type)


#: how often the spool is looked at for provider webhooks to hand in
SPOOL_SECONDS = 1.0


async def spool_context(app: web.Application) -> AsyncIterator[None]:
    """Hand the webhooks kept while the database was away to their channels once it is back."""
    spool = app[SPOOL]
    recovered = await asyncio.to_thread(spool.recover)
    if recovered:
        log.info("%d webhooks kept by an ended process will be stored", recovered)
    task = asyncio.create_task(_hand_in_forever(app), name="spool")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _hand_in_forever(app: web.Application) -> None:
    while True:
        try:
            await hand_in(app)
        except Exception:
            log.exception("handing in spooled webhooks failed")
        await asyncio.sleep(SPOOL_SECONDS)


async def hand_in(app: web.Application) -> None:
    """Hand in the spooled webhooks, oldest first, until none is left or the database is
    still away."""
    spool, routes = app[SPOOL], app[SPOOLED_ROUTES]
    waiting = await asyncio.to_thread(spool.waiting)
    if not waiting:
        spool.behind = False
        return
    with spool.turn() as mine:
        if not mine:
            return  # another process of this gateway is handing them in
        for path in waiting:
            taken = await asyncio.to_thread(spool.take, path)
            if taken is None:
                continue
            handler = routes.get(taken.request.path)
            if handler is None:
                log.error("a spooled webhook for %s has no channel any more", taken.request.path)
                await asyncio.to_thread(spool.done, taken)
                continue
            try:
                answer = await handler(taken.request)
            except Exception as exc:
                if unreachable(exc):
                    await asyncio.to_thread(spool.give_back, taken)
                    return
                log.exception("a spooled webhook for %s failed", taken.request.path)
                answer = None
            if answer is not None and answer.status >= 400:
                log.warning(
                    "a spooled webhook for %s was refused: %d", taken.request.path, answer.status
                )
            await asyncio.to_thread(spool.done, taken)
            log.info("stored a webhook kept while the database was away")


async def _in_thread(fn: Callable[[], None]) -> None:
    await asyncio.get_running_loop().run_in_executor(None, fn)


@web.middleware
async def request_context(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Give each request an id (logged with every line) and count it in the metrics."""
    rid = request.headers.get("X-Request-Id") or new_id().replace("-", "")[:16]
    token = request_id.set(rid[:64])
    started = time.perf_counter()
    route = request.match_info.route.resource
    route_name = route.canonical if route is not None else "unmatched"
    status = 500
    limit = request.app[GATEWAY].config.gateway.max_body_bytes
    try:
        response: web.StreamResponse
        # The REST API checks the size itself, after the token: 401 comes before all else
        # there, but for a body in a coding the gateway does not read (refused here, as
        # aiohttp's parser refuses br and zstd).
        in_api = request.path.startswith(api.PREFIX + "/")
        coding = unread_coding(request)
        if coding is not None:
            response = coding_refused(coding)
        elif not in_api and request.content_length is not None and request.content_length > limit:
            response = too_large()  # refused before a byte of the body is read
        else:
            response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = rid[:64]
        return response
    except web.HTTPRequestEntityTooLarge:
        status = 413
        return too_large()
    except RequestPayloadError:
        status = 400
        return undecodable()
    except ConnectionResetError:
        # The client went away mid-request, or was cut off for stalling: no one to answer,
        # and nothing went wrong here.
        status = 400
        return web.Response(status=400, text="the request did not arrive whole")
    except web.HTTPException as exc:
        status = exc.status
        raise
    except Exception as exc:
        if not unreachable(exc):
            raise
        # Not the client's fault and not a bug: it may try again once the database is back.
        log.warning("%s %s: the database cannot be reached: %s", request.method, request.path, exc)
        status = 503
        return database_unreachable()
    finally:
        metrics = request.app[GATEWAY].metrics
        metrics.answered(request.method, route_name, status, time.perf_counter() - started)
        request_id.reset(token)


def database_unreachable() -> web.Response:
    """503 with Retry-After: the request could not be served because the database is away."""
    return web.json_response(
        {"message": "the database cannot be reached; try again shortly"},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    if await gateway.db.ping():
        return web.json_response({"status": "ready"})
    return web.json_response(
        {"status": "database unreachable"},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; behind `[gateway] metrics_token` when one is set."""
    gateway = request.app[GATEWAY]
    token = gateway.config.gateway.metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json_response(
                {"message": "a metrics token is required"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    gateway.metrics.writer_queue.set(gateway.db.writer.depth)
    body = exposition(gateway.metrics)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
