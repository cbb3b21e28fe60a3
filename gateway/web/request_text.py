"""What a client sends (path, query string, JSON body), read the same way at every door.

The REST API and the inbox page both refuse, with a 400 naming the place, a body that is not
a JSON object and text no database can keep (NUL characters, lone surrogates): on PostgreSQL
such text would fail the write, on either database it must not be stored half-way. They also
refuse a query parameter given twice, rather than read one of its values and drop the other.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from channels import json_input
from channels.text import first_unstorable, unstorable
from gateway.domain.errors import Refused

UNSTORABLE = "text must be UTF-8 without NUL characters"
#: no parameter of the REST API or the inbox page takes several values
REPEATED = "given more than once; give it once"


def _unstorable_in_url(request: web.Request) -> str | None:
    """`path`, or the name of the query parameter, holding unstorable text; None when neither."""
    if unstorable(request.path):
        return "path"
    for name, value in request.query.items():
        if unstorable(name) or unstorable(value):
            return name
    return None


def _repeated_in_query(request: web.Request) -> str | None:
    """The first query parameter given more than once (`?limit=5&limit=500`), which would be
    read as its first value with the others dropped unseen; None when each is given once."""
    seen: set[str] = set()
    for name, _ in request.query.items():  # (iterating the query itself names each once)
        if name in seen:
            return name
        seen.add(name)
    return None


def url_refusal(request: web.Request) -> tuple[str, str] | None:
    """(the place, why) when the path or query cannot be read as given: text no database
    can keep, or a query parameter given twice; None when it can."""
    where = _unstorable_in_url(request)
    if where is not None:
        return where, UNSTORABLE
    repeated = _repeated_in_query(request)
    if repeated is not None:
        return repeated, REPEATED
    return None


def _invalid(field: str, message: str) -> Refused:
    return Refused("INVALID_REQUEST", message, 400, field=field)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object whose every string can be stored; else Refused (400)."""
    raw = await request.read()  # over client_max_size: aiohttp raises 413
    try:
        data = json_input.loads(raw)
    except json_input.UnstorableNumber as exc:
        raise _invalid("body", f"{exc}: numbers are finite, integers at most 64 bits") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _invalid("body", "not valid JSON (or nested too deeply)") from None
    if not isinstance(data, dict):
        raise _invalid("body", "expected a JSON object")
    where = first_unstorable(data) if json_input.may_hold_unstorable(raw) else None
    if where is not None:
        raise _invalid(where or "body", UNSTORABLE)
    return data
