"""Reading a JSON request body into its pydantic model, with SPEC-shaped errors."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.web.api.errors import from_validation
from gateway.web.request_text import read_json_object

M = TypeVar("M", bound=BaseModel)


async def read_body(request: web.Request, model: type[M]) -> M:
    """The body as `model`; malformed JSON, unstorable text or wrong fields: a 400 naming it."""
    data = await read_json_object(request)
    try:
        # strict: what the OpenAPI document says is what is accepted (no "yes" for true,
        # no true for 1)
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise from_validation(exc) from None
