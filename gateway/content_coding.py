"""Which `Content-Encoding`s of a request body the gateway reads, and its answer to the others.

aiohttp inflates a body sent with `Content-Encoding: gzip` or `deflate` as it reads it (and
`br` or `zstd` when the Brotli or zstd package is installed, which the gateway does not need).
Left to itself it answers `br` or `zstd` without them with a plain-text 400 telling the client
to install a package (its parser builds the decoder from the headers, so even a request with
no body is refused), and reads any other coding (`compress`, `x-gzip`, `gzip, deflate`, a
typo) as if the body were not encoded at all. The gateway answers both with the same 415,
whose `Accept-Encoding` names the codings it reads (RFC 9110, section 15.5.16), and reads
nothing of such a body.
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
from aiohttp.hdrs import ACCEPT_ENCODING, CONTENT_ENCODING
from aiohttp.http_exceptions import ContentEncodingError

from gateway.error_bodies import application_body

#: the codings aiohttp inflates here, as `Accept-Encoding` names them
READ = ("gzip", "deflate") + (("br",) if HAS_BROTLI else ()) + (("zstd",) if HAS_ZSTD else ())

_MISSING_DECODER = re.compile(r"content-encoding: \w+ \((\w+)\)\. Please install")


def unread_coding(request: web.BaseRequest) -> str | None:
    """The `Content-Encoding` of a request's body when it is not one the gateway reads.

    Read as aiohttp's parser reads it, so that nothing it would pass through undecoded is
    taken for gzip: the header's last value, as it came (only ASCII is lower-cased, and
    `gzip` followed by a no-break space is not `gzip`). A header given twice is refused
    whatever its values, since a proxy may have read the first.
    """
    given = request.headers.getall(CONTENT_ENCODING, [])
    if not given or not request.body_exists:
        return None
    if len(given) > 1:
        return ", ".join(given)
    coding = given[0]
    if coding.isascii() and coding.lower() in (*READ, "", "identity"):
        return None
    return coding


def parser_failed_inflating(error: BaseException | None) -> bool:
    """Whether aiohttp's parser gave up on a gzip or deflate body that does not inflate (a
    body cut short, or not in its coding at all): the body's fault, answered by `undecodable`."""
    return isinstance(error, ContentEncodingError) and parser_refused_coding(error) is None


def parser_refused_coding(error: BaseException | None) -> str | None:
    """The coding named by aiohttp's parser when it refused a request's headers because it
    cannot inflate that coding (`br` or `zstd` without their package); None for any other
    error, a body that fails to inflate included (that is the body's fault, not a 415)."""
    if not isinstance(error, ContentEncodingError):
        return None
    # aiohttp says "Can not decode content-encoding: brotli (br). Please install `Brotli`";
    # a body that does not inflate says "... content-encoding: gzip", with no package named.
    named = _MISSING_DECODER.search(str(error))
    return named.group(1) if named else None


def undecodable() -> web.Response:
    """400 for a body that cannot be read as its headers say it was sent (it does not inflate
    as its `Content-Encoding` says, or its chunks are malformed), at every door."""
    body = application_body(
        "INVALID_BODY",
        "invalid request",
        "the body does not match its Content-Encoding or its chunked framing",
    )
    return web.json_response(body, status=400)


def coding_refused(coding: str) -> web.Response:
    """415 naming the coding, with the codings the gateway reads in `Accept-Encoding`."""
    readable = ", ".join(READ)
    body = application_body(
        "UNSUPPORTED_CONTENT_ENCODING",
        "unsupported Content-Encoding",
        f"a body in Content-Encoding {coding[:40]!r} cannot be read; "
        f"send it as it is, or in one of: {readable}",
    )
    return web.json_response(body, status=415, headers={ACCEPT_ENCODING: readable})
