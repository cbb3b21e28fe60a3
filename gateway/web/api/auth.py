"""Bearer tokens of `[api] tokens`, then the checks that come before any handler reads."""

from __future__ import annotations

import hmac

from aiohttp import web

from gateway.error_bodies import validation_body
from gateway.state import GATEWAY
from gateway.web.api.errors import Handler, error_response, too_large, unauthenticated
from gateway.web.request_text import url_refusal

#: the calling token's name (it becomes `sender.appId`)
TOKEN_NAME = web.RequestKey("api_token_name", str)
PUBLIC_PATHS = frozenset({"/inbox/v2/openapi.json"})


def token_name(request: web.Request) -> str:
    return request[TOKEN_NAME]


def match_token(presented: str, tokens: list[tuple[str, str]]) -> str | None:
    """The name of the configured token equal to `presented`, compared in constant time."""
    found = None
    given = presented.encode("utf-8", "surrogateescape")
    for name, token in tokens:
        # Compare against every token so the time taken does not say which one was close.
        if hmac.compare_digest(given, token.encode("utf-8")) and found is None:
            found = name
    return found


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse requests without a known Bearer token, then bodies over the limit and
    paths or query strings no database can hold.

    The token comes first: a caller without one learns nothing about what else is wrong.
    """
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    config = request.config_dict[GATEWAY].config
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return unauthenticated("an Authorization: Bearer <token> header is required")
    tokens = [(t.name, t.token) for t in config.api.tokens]
    found = match_token(presented.strip(), tokens)
    if found is None:
        return unauthenticated("the token is not valid")
    limit = config.gateway.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return too_large(limit)
    refusal = url_refusal(request)
    if refusal is not None:
        return error_response(400, validation_body([refusal]))
    request[TOKEN_NAME] = found
    return await handler(request)
