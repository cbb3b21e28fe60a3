"""The baselines the gateway is measured against, each a server of its own (a real process).

    python -m bench.baselines bare --port 18081
    python -m bench.baselines naive --port 18082 --database sqlite:////tmp/naive.db

- `bare`: aiohttp handlers that parse what arrives (the form, the JSON, the WebSocket frame)
  and answer what the provider expects (`<Response/>`, `EVENT_RECEIVED`, an ack), storing
  nothing. The ceiling: what aiohttp itself costs.
- `naive`: the same routes, each opening a SQLModel session per request, inserting the message
  when its id is new and committing, as a first version of a gateway would. SQLite keeps its
  defaults (rollback journal, `synchronous` FULL); the pragmas in force are printed at start.

Both serve the gateway's paths (`/channels/sms/…`, `/channels/fb/webhook`, `/channels/chat/ws`)
so that the same pre-signed requests replay against all three.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy import Engine, create_engine, func, text
from sqlmodel import Field, Session, SQLModel, select

#: what Twilio expects back, exactly as the twilio library writes it
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


class NaiveMessage(SQLModel, table=True):
    """The naive handler's one table: a message, unique by its provider id."""

    __tablename__ = "naive_messages"

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=255, unique=True)
    sender: str = Field(max_length=255)
    text: str
    created_at: datetime


Store = Callable[[str, str, str], None]


def _twiml() -> web.Response:
    return web.Response(text=TWIML, content_type="text/xml")


def build(store: Store | None) -> web.Application:
    """The routes, storing through `store` (the naive handler) or not at all (bare)."""

    async def sms_inbound(request: web.Request) -> web.Response:
        fields = await request.post()
        if store is not None:
            store(str(fields["MessageSid"]), str(fields["From"]), str(fields.get("Body", "")))
        return _twiml()

    async def sms_status(request: web.Request) -> web.Response:
        await request.post()
        return _twiml()

    async def messenger(request: web.Request) -> web.Response:
        payload = await request.json()
        for entry in payload["entry"]:
            for event in entry.get("messaging", []):
                message = event.get("message") or {}
                if store is not None and "mid" in message:
                    store(message["mid"], event["sender"]["id"], message.get("text", ""))
        return web.Response(text="EVENT_RECEIVED")

    async def chat(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        visitor = request.query.get("token", "visitor")
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            frame = json.loads(message.data)
            cid = frame["clientMessageId"]
            if store is not None:
                text = frame["content"]["basic"]["items"][0].get("text", "")
                store(f"{visitor}:{cid}", visitor, text)
            await ws.send_json({"type": "ack", "clientMessageId": cid})
        return ws

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/channels/sms/inbound", sms_inbound)
    app.router.add_post("/channels/sms/status", sms_status)
    app.router.add_post("/channels/fb/webhook", messenger)
    app.router.add_get("/channels/chat/ws", chat)
    app.router.add_get("/healthz", healthz)
    return app


def naive_engine(url: str) -> Engine:
    """An engine with the driver's defaults, and the naive table created."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    return engine


def naive_store(engine: Engine) -> Store:
    """One session per call: insert the message if its id is new, then commit."""

    def store(provider_id: str, sender: str, text: str) -> None:
        with Session(engine) as session:
            known = session.exec(
                select(NaiveMessage.id).where(NaiveMessage.provider_id == provider_id)
            ).first()
            if known is None:
                session.add(
                    NaiveMessage(
                        provider_id=provider_id,
                        sender=sender,
                        text=text,
                        created_at=datetime.now(UTC),
                    )
                )
                session.commit()

    return store


def sqlite_pragmas(engine: Engine) -> dict[str, Any]:
    """The journal mode and synchronous level a SQLite connection of `engine` runs with."""
    with engine.connect() as connection:
        journal = connection.execute(text("PRAGMA journal_mode")).scalar()
        synchronous = connection.execute(text("PRAGMA synchronous")).scalar()
    levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {"journal_mode": journal, "synchronous": levels.get(int(synchronous or 0), synchronous)}


def stored_ids(url: str) -> list[str]:
    """Every provider id the naive handler stored in the database at `url`."""
    engine = naive_engine(url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(NaiveMessage.provider_id)).all())
    finally:
        engine.dispose()


def stored_count(url: str) -> int:
    engine = naive_engine(url)
    try:
        with Session(engine) as session:
            return int(session.exec(select(func.count()).select_from(NaiveMessage)).one())
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("kind", choices=["bare", "naive"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", help="the naive handler's database URL")
    args = parser.parse_args()
    store = None
    if args.kind == "naive":
        if not args.database:
            parser.error("naive needs --database")
        engine = naive_engine(args.database)
        if engine.dialect.name == "sqlite":
            print(f"naive handler on SQLite: {sqlite_pragmas(engine)}", file=sys.stderr)
        store = naive_store(engine)
    web.run_app(build(store), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
