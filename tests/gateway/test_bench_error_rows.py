"""The benches' "daemon log, ERROR lines" rows name what went wrong, read from the daemon's
own JSON log, since the daemon's folder is gone when a bench ends."""

from __future__ import annotations

import logging
from pathlib import Path

from bench.harness import error_lines, errors_detail
from gateway.logs import JsonFormatter


def daemon_log(path: Path) -> logging.Logger:
    """A logger writing the daemon's JSON lines to `path`."""
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gateway.test_bench_rows")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_the_row_counts_the_error_lines_and_names_the_first_with_its_traceback(
    tmp_path: Path,
) -> None:
    log = tmp_path / "daemon.log"
    logger = daemon_log(log)
    logger.info("listening")
    logger.warning("a provider was slow")
    try:
        raise RuntimeError("the sweep was cancelled")
    except RuntimeError:
        logger.exception("Job run raised an exception")
    logger.error("a second failure")
    for handler in logger.handlers:
        handler.close()

    errors = error_lines(log)

    assert len(errors) == 2
    assert errors_detail(errors) == (
        "2: error gateway.test_bench_rows: Job run raised an exception "
        "(RuntimeError: the sweep was cancelled)"
    )


def test_a_clean_log_makes_a_row_of_zero(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    logger = daemon_log(log)
    logger.warning("a provider was slow")
    for handler in logger.handlers:
        handler.close()

    assert errors_detail(error_lines(log)) == "0"
