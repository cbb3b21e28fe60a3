"""Every log record written while an adapter works, and the check that no secret is among them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import quote, quote_plus


class _Keep(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.NOTSET)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@contextmanager
def capture_logs(level: int = logging.DEBUG) -> Iterator[list[logging.LogRecord]]:
    """Every record at `level` or above, from every logger, while the block runs.

    Third-party loggers count too: a library that set its logger to WARNING (or stopped it
    propagating) is opened up for the block, since an operator may run at DEBUG.
    """
    records: list[logging.LogRecord] = []
    keep = _Keep(records)
    root = logging.getLogger()
    manager = root.manager
    loggers = [item for item in manager.loggerDict.values() if isinstance(item, logging.Logger)]
    saved_levels = [(logger, logger.level) for logger in [root, *loggers]]
    isolated = [logger for logger in loggers if not logger.propagate]
    saved_disable = manager.disable
    logging.disable(logging.NOTSET)
    for logger, _ in saved_levels:
        if logger is root or logger.level > level:
            logger.setLevel(level)
    root.addHandler(keep)
    for logger in isolated:
        logger.addHandler(keep)
    try:
        yield records
    finally:
        root.removeHandler(keep)
        for logger in isolated:
            logger.removeHandler(keep)
        for logger, saved in saved_levels:
            logger.setLevel(saved)
        logging.disable(saved_disable)


def _record_text(record: logging.LogRecord, formatter: logging.Formatter) -> str:
    try:
        text = formatter.format(record)
    except Exception:  # a record whose arguments do not fit its format still counts
        text = f"{record.name} {record.msg!r} {record.args!r}"
    return text + " " + repr(getattr(record, "__dict__", {}))


def _forms(secret: str) -> set[str]:
    """A secret as written, and URL-encoded as it would be in a logged URL."""
    return {secret, quote(secret), quote_plus(secret)}


def check_secrets_not_logged(
    secrets: Iterable[str], logs: str | Iterable[logging.LogRecord]
) -> None:
    """None of `secrets` appears in the captured logs (text, or records with tracebacks).

    The failure names the secrets by position and the loggers that wrote them, never the
    secrets themselves, so the report does not leak them again.
    """
    wanted = [secret for secret in secrets]
    if isinstance(logs, str):
        texts = [("the logs", logs)]
    else:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        texts = [(f"logger {r.name!r}", _record_text(r, formatter)) for r in logs]
    where: dict[int, list[str]] = {}
    for source, text in texts:
        for index, secret in enumerate(wanted):
            if secret and any(form in text for form in _forms(secret)):
                places = where.setdefault(index, [])
                if source not in places:
                    places.append(source)
    if where:
        found = "; ".join(f"number {i} in {', '.join(places)}" for i, places in where.items())
        raise AssertionError(f"secret(s) appear in the logs (counting from 0): {found}")
