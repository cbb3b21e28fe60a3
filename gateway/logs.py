"""Structured logs: JSON lines when not on a terminal, each with the request id."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            data["request_id"] = rid
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = request_id.get()
        return f"{line} [{rid}]" if rid else line


#: the packages whose lines the log is for; every other library logs warnings and worse only
OWN_LOGGERS = ("gateway", "channels", "adapters")


def setup_logging(level: str = "INFO", json_lines: bool | None = None) -> None:
    """Log to stderr, JSON unless stderr is a terminal: the gateway's lines at `level`.

    Libraries log at WARNING and above whatever `level` is: the `twilio` library alone writes
    each request's URL and headers at INFO, eleven lines for every SMS sent.
    """
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    own = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    root.setLevel(max(logging.WARNING, own))
    for name in OWN_LOGGERS:
        own_logger(name, own)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def own_logger(name: str, level: int | None = None) -> None:
    """Let the logger `name` (a package of the gateway's, or a plug-in adapter's) log at
    `level`, by default the gateway's own."""
    if level is None:
        level = logging.getLogger(OWN_LOGGERS[0]).getEffectiveLevel()
    logging.getLogger(name).setLevel(level)


class ClientFaultFilter(logging.Filter):
    """aiohttp logs a traceback for requests it refuses itself (a body that does not match its
    Content-Encoding, say); those are the client's fault: one warning line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and _client_fault(error):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}".replace(
                "\n", " "
            )
            record.args = ()
        return True


def _client_fault(error: BaseException) -> bool:
    from aiohttp.http_exceptions import HttpProcessingError
    from aiohttp.web_protocol import RequestPayloadError

    if isinstance(error, RequestPayloadError):
        return True
    return isinstance(error, HttpProcessingError) and 400 <= (error.code or 0) < 500


def quiet_client_faults() -> None:
    """Install ClientFaultFilter on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientFaultFilter) for f in logger.filters):
        logger.addFilter(ClientFaultFilter())
