"""Error bodies (SPEC section 4) and the middleware that gives every failure one."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from pydantic import ValidationError

from gateway.content_coding import undecodable
from gateway.domain.errors import Refused
from gateway.error_bodies import application_body, validation_body
from gateway.store.database import RETRY_AFTER_SECONDS, unreachable

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: the codes of HTTP errors that aiohttp raises itself
_HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class Invalid(Exception):
    """A 400 naming each bad field (camelCase paths such as `message.content.basic`)."""

    def __init__(self, violations: Sequence[tuple[str, str]]) -> None:
        super().__init__("invalid request")
        self.violations = list(violations)


def invalid(field: str, description: str) -> Invalid:
    return Invalid([(field, description)])


def from_validation(error: ValidationError, prefix: str = "") -> Invalid:
    """Pydantic's errors as field violations, paths joined by dots."""
    violations = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"])
        field = ".".join(p for p in (prefix, path) if p)
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required"
        violations.append((field or "body", message))
    return Invalid(violations)


def error_response(status: int, body: dict[str, Any]) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)


def refused_response(refused: Refused) -> web.Response:
    if refused.status == 400 and refused.field is not None:
        return error_response(400, validation_body([(refused.field, refused.message)]))
    return error_response(refused.status, application_body(refused.code, refused.message))


def unauthenticated(why: str) -> web.Response:
    return error_response(401, application_body("UNAUTHENTICATED", why))


def too_large(limit: int) -> web.Response:
    return error_response(
        413, application_body("PAYLOAD_TOO_LARGE", f"the request body is over {limit} bytes")
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure with the SPEC's error body; only real bugs become 500."""
    try:
        return await handler(request)
    except Refused as refused:
        return refused_response(refused)
    except Invalid as bad:
        return error_response(400, validation_body(bad.violations))
    except RequestPayloadError:
        return undecodable()
    except ConnectionResetError:
        raise  # the client is gone: not a failure of ours (the application's middleware answers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "HTTP_ERROR")
        text = (exc.reason or "error").lower()
        if exc.status == 413:
            text = "the request body is too large"
        response = error_response(exc.status, application_body(code, text))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:
        if unreachable(exc):
            log.warning(
                "%s %s: the database cannot be reached: %s", request.method, request.path, exc
            )
            response = error_response(
                503,
                application_body(
                    "UNAVAILABLE", "the database cannot be reached", "try again shortly"
                ),
            )
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(
            500, application_body("INTERNAL", "internal error", "the gateway failed; see its log")
        )
