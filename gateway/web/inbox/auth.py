"""Agent login: argon2 password checks, login limits, server-side sessions and CSRF checks.

A login opens a session in the database (`sessions.SessionStore`); the cookie carries only
its random token. Logging out deletes the session, so a cookie copied before then is worth
nothing. A session also ends when it expires or when the agent's password hash in the config
changes (its `password_tag`, an HMAC of the hash, no longer matches).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import secrets
from dataclasses import dataclass, field

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.client_address import address_group, of_request
from gateway.config import Agent
from gateway.domain.errors import Refused
from gateway.limits import Busy, Slots
from gateway.state import GATEWAY
from gateway.store.secrets import master_secret
from gateway.web.inbox.sessions import SESSION_SECONDS, AgentSession, SessionStore
from gateway.web.request_text import read_json_object, url_refusal

COOKIE = "ig_session"
#: the close code of a live socket whose session ended; the page then shows the login
SESSION_ENDED = 4401
#: the window the login limits count password checks in
LOGIN_WINDOW = 60.0
#: the header every state-changing request of the page carries (a form on another site can't)
CSRF_HEADER = "X-Requested-With"

_HASHER = PasswordHasher()
# Checked when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


@dataclass
class Sessions:
    """The session store, the key of password tags, the cap on password checks, and each
    session's open live sockets on this node (closed when it logs out)."""

    store: SessionStore
    password_checks: Slots
    key: bytes | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sockets: dict[str, set[web.WebSocketResponse[bool]]] = field(default_factory=dict)


SESSIONS = web.AppKey("inbox_sessions", Sessions)


async def tag_key(app: web.Application) -> bytes:
    """The installation's key for password tags, derived from the master secret."""
    state = app[SESSIONS]
    if state.key is None:
        async with state.lock:
            if state.key is None:
                gw = app[GATEWAY]
                master = gw.master_secret or await gw.db.write(master_secret)
                # A key of its own, so a leaked tag key reveals nothing else.
                state.key = hmac.new(master, b"inbox-page-sessions", hashlib.sha256).digest()
    return state.key


def find_agent(app: web.Application, username: str) -> Agent | None:
    for agent in app[GATEWAY].config.agents:
        if hmac.compare_digest(agent.username.encode(), username.encode()):
            return agent
    return None


async def password_tag(app: web.Application, agent: Agent) -> str:
    """What a session remembers of the agent's password hash, to end when it changes."""
    return hmac.new(await tag_key(app), agent.password_hash.encode(), hashlib.sha256).hexdigest()


async def current_session(request: web.Request) -> tuple[Agent, AgentSession] | None:
    """The agent logged in on this request and their session, or None."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    session = await request.app[SESSIONS].store.find(token)
    if session is None:
        return None
    agent = find_agent(request.app, session.username)
    if agent is None:
        return None
    if not hmac.compare_digest(await password_tag(request.app, agent), session.password_tag):
        return None
    return agent, session


async def current_agent(request: web.Request) -> Agent | None:
    """The agent logged in on this request, or None."""
    found = await current_session(request)
    return found[0] if found else None


def json_error(status: int, code: str, message: str, **headers: str) -> web.HTTPException:
    """The page's error body (`message`, `details.applicationError.code`), to raise."""
    body = json.dumps({"message": message, "details": {"applicationError": {"code": code}}})
    error = web.HTTPException(text=body, content_type="application/json", headers=headers)
    error.set_status(status)
    return error


def same_origin(request: web.Request) -> bool:
    """Whether the request's Origin (when the browser sends one) is this server."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    allowed = {f"{request.scheme}://{request.host}", _public_origin(request)}
    return origin in allowed


def _public_origin(request: web.Request) -> str:
    url = request.app[GATEWAY].config.gateway.public_url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def check_csrf(request: web.Request) -> None:
    """Refuse a state-changing request another site could have made."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.headers.get(CSRF_HEADER) != "inbox":
        raise json_error(403, "CSRF_CHECK_FAILED", "request refused: missing CSRF header")
    if not same_origin(request):
        raise json_error(403, "CSRF_CHECK_FAILED", "request refused: sent from another origin")


async def require_agent(request: web.Request) -> Agent:
    """The logged-in agent; 401 otherwise (and the CSRF check for writes)."""
    agent = await current_agent(request)
    if agent is None:
        raise json_error(401, "UNAUTHENTICATED", "please log in")
    check_csrf(request)
    return agent


async def agent_reading_url(request: web.Request) -> Agent:
    """The logged-in agent (401 first), then a path and query the database can hold, with
    each parameter given once (400), for the page's endpoints that read them."""
    agent = await require_agent(request)
    refusal = url_refusal(request)
    if refusal is not None:
        raise json_error(400, "INVALID_REQUEST", ": ".join(refusal))
    return agent


def _client_address(request: web.Request) -> str:
    return of_request(request, request.app[GATEWAY].config.gateway.trusted_networks)


def _secure(request: web.Request) -> bool:
    return request.app[GATEWAY].config.gateway.public_url.startswith("https://")


async def login(request: web.Request) -> web.Response:
    """`POST /inbox/api/login` `{username, password}`: sets the session cookie."""
    check_csrf(request)
    try:
        # the same reading as every JSON door: text a database cannot keep (a lone surrogate)
        # could be neither hashed for the limits nor checked against a password
        body = await read_json_object(request)
    except Refused as refused:
        raise json_error(400, "INVALID_REQUEST", refused.text) from None
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise json_error(400, "INVALID_REQUEST", "username and password are required strings")
    await _count_attempt(request, username)
    agent = find_agent(request.app, username)
    if not await _check_password(request, agent, password):
        raise json_error(401, "WRONG_CREDENTIALS", "wrong username or password")
    assert agent is not None
    store = request.app[SESSIONS].store
    cookie = await store.open(agent.username, await password_tag(request.app, agent))
    response = web.json_response({"agent": agent_wire(agent)})
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        path="/inbox/",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )
    return response


async def _count_attempt(request: web.Request, username: str) -> None:
    """Count this password check before it runs, per client address; 429 over the limit.

    Counting first means guesses sent in parallel are counted too, and counting per address
    means someone guessing elsewhere never locks the agent out.
    """
    gw = request.app[GATEWAY]
    settings = gw.config.limits
    address = address_group(_client_address(request))
    # hashed, so a megabyte of username costs the limits no more than a short one
    name = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    wait = await gw.limits.take(
        "login-address", address, limit=settings.logins_per_address, per_seconds=LOGIN_WINDOW
    )
    if wait is None:
        wait = await gw.limits.take(
            "login",
            f"{name} {address}",
            limit=settings.logins_per_username,
            per_seconds=LOGIN_WINDOW,
        )
    if wait is not None:
        seconds = math.ceil(wait)
        raise json_error(
            429,
            "TOO_MANY_ATTEMPTS",
            f"too many login attempts; try again in {seconds} s",
            **{"Retry-After": str(seconds)},
        )


async def _check_password(request: web.Request, agent: Agent | None, password: str) -> bool:
    """The argon2 check, off the event loop, at most one per core at once; 503 when busy."""
    state = request.app[SESSIONS]
    settings = request.app[GATEWAY].config.limits
    try:
        async with state.password_checks.hold(wait=settings.password_check_wait):
            return await asyncio.to_thread(_password_matches, agent, password)
    except Busy:
        raise json_error(
            503,
            "BUSY",
            "the server is busy checking other logins; try again in a moment",
            **{"Retry-After": "2"},
        ) from None


def _password_matches(agent: Agent | None, password: str) -> bool:
    try:
        return _HASHER.verify(agent.password_hash if agent else _DUMMY_HASH, password) and (
            agent is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def logout(request: web.Request) -> web.Response:
    """`POST /inbox/api/logout`: ends the session, here and on every node, and its sockets."""
    check_csrf(request)
    token = request.cookies.get(COOKIE)
    if token:
        state = request.app[SESSIONS]
        ended = await state.store.close(token)
        if ended is not None:
            for ws in list(state.sockets.pop(ended.id, ())):
                await ws.close(code=SESSION_ENDED, message=b"logged out")
    response = web.json_response({})
    response.del_cookie(COOKIE, path="/inbox/")
    return response


def agent_wire(agent: Agent) -> dict[str, str]:
    return {"username": agent.username, "displayName": agent.display_name or agent.username}


async def me(request: web.Request) -> web.Response:
    """`GET /inbox/api/me`: who is logged in (401 when nobody)."""
    agent = await require_agent(request)
    gw = request.app[GATEWAY]
    return web.json_response({"agent": agent_wire(agent), "business": gw.business.wire()})
