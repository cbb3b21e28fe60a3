"""Log capture sees every logger at DEBUG, third-party ones included, and then puts them back."""

from __future__ import annotations

import logging

import pytest

from channels.testing import capture_logs, check_secrets_not_logged


def test_a_quiet_non_propagating_library_logger_is_heard_at_debug() -> None:
    library = logging.getLogger("somevendor.http_client")
    library.setLevel(logging.WARNING)
    library.propagate = False
    try:
        with capture_logs() as records:
            library.debug("Authorization: Bearer %s", "tok-123456")
            logging.getLogger("fresh.logger.made.inside").debug("late comer")
        assert [r.getMessage() for r in records] == [
            "Authorization: Bearer tok-123456",
            "late comer",
        ]
        with pytest.raises(AssertionError, match=r"in logger 'somevendor\.http_client'"):
            check_secrets_not_logged(["tok-123456"], records)
        assert library.level == logging.WARNING and library.handlers == []
    finally:
        library.propagate = True


def test_levels_and_a_global_disable_are_restored() -> None:
    root = logging.getLogger()
    level = root.level
    logging.disable(logging.INFO)
    try:
        with capture_logs() as records:
            logging.getLogger("x").info("heard despite logging.disable")
        assert len(records) == 1
        assert logging.root.manager.disable == logging.INFO
        assert root.level == level
    finally:
        logging.disable(logging.NOTSET)


def test_records_after_the_block_are_not_captured() -> None:
    with capture_logs() as records:
        pass
    logging.getLogger("x").warning("after")
    assert records == []
