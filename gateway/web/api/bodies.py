"""Reading a JSON request body into its pydantic model, with SPEC-shaped errors."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from channels.text import unstorable
from gateway.web.api.errors import from_validation, invalid

M = TypeVar("M", bound=BaseModel)


async def read_body(request: web.Request, model: type[M]) -> M:
    """The body as `model`; malformed JSON or wrong fields raise a 400 naming the field."""
    raw = await request.read()  # over client_max_size: aiohttp raises 413, made SPEC-shaped
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise invalid("body", "not valid JSON (or nested too deeply)") from None
    if not isinstance(data, dict):
        raise invalid("body", "expected a JSON object")
    try:
        bad = find_unstorable(data)
    except RecursionError:
        raise invalid("body", "nested too deeply") from None
    if bad is not None:
        raise invalid(bad or "body", "text must be UTF-8 without NUL characters")
    try:
        # strict: what the OpenAPI document says is what is accepted (no "yes" for true,
        # no true for 1)
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise from_validation(exc) from None


def find_unstorable(data: Any, path: str = "") -> str | None:
    """The dotted path of the first unstorable string (keys included), or None."""
    if isinstance(data, str):
        return path if unstorable(data) else None
    if isinstance(data, dict):
        items: list[tuple[str, Any]] = list(data.items())
    elif isinstance(data, list):
        items = [(str(i), v) for i, v in enumerate(data)]
    else:
        return None
    for key, value in items:
        where = f"{path}.{key}" if path else key
        if unstorable(key):
            return path or "body"
        found = find_unstorable(value, where)
        if found is not None:
            return found
    return None
