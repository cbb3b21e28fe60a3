"""Which `Content-Encoding`s of a request body the gateway reads, and its answer to the others.

aiohttp inflates a body sent with `Content-Encoding: gzip` or `deflate` as it reads it (and
`br` or `zstd` when the Brotli or zstd package is installed, which the gateway does not need).
Left to itself it answers `br` or `zstd` without them with a plain-text 400 telling the client
to install a package, and reads any other coding (`compress`, `x-gzip`, `gzip, deflate`, a
typo) as if the body were not encoded at all. The gateway answers both with the same 415,
whose `Accept-Encoding` names the codings it reads (RFC 9110, section 15.5.16), and reads
nothing of such a body.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
from aiohttp.hdrs import ACCEPT_ENCODING, CONTENT_ENCODING

from gateway.error_bodies import application_body

#: the codings aiohttp inflates here, as `Accept-Encoding` names them
READ = ("gzip", "deflate") + (("br",) if HAS_BROTLI else ()) + (("zstd",) if HAS_ZSTD else ())


def unread_coding(request: web.BaseRequest) -> str | None:
    """The `Content-Encoding` of a request's body when it is not one the gateway reads."""
    given = request.headers.get(CONTENT_ENCODING)
    if given is None or not request.body_exists:
        return None
    coding = given.strip().lower()
    if coding in READ or coding in ("", "identity"):
        return None
    return given


def coding_refused(coding: str | None) -> web.Response:
    """415 naming the coding (when known), with the codings the gateway reads in
    `Accept-Encoding`."""
    readable = ", ".join(READ)
    which = "this Content-Encoding" if coding is None else f"Content-Encoding {coding[:40]!r}"
    body = application_body(
        "UNSUPPORTED_CONTENT_ENCODING",
        "unsupported Content-Encoding",
        f"a body in {which} cannot be read; send it as it is, or in one of: {readable}",
    )
    return web.json_response(body, status=415, headers={ACCEPT_ENCODING: readable})
