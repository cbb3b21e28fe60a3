"""Fixtures that find the test PostgreSQL server and Chromium.

`make test` runs the suite twice: every test not marked `postgres` on SQLite, then the tests
marked `postgres` with INBOX_TEST_POSTGRES_URL set. A test that asks for `postgres_url` is
marked for it automatically; a fixture that runs on both databases marks its PostgreSQL case
itself: `pytest.param("postgres", marks=pytest.mark.postgres)`. On CI (CI=true) a missing
server or browser fails the test instead of skipping it, so nothing passes by not running.
"""

import os
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import settings

# the shared fixtures: database_url, gateways, twilio, graph (see tests/support/)
pytest_plugins = ["tests.support.fixtures"]

CHROMIUM = Path("/usr/bin/chromium")

# On CI property tests draw the same examples every run, so a change lands or fails on its own
# merits; run locally, they keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() in {"true", "1"}:
    settings.load_profile("ci")

# Fixture that a test asks for -> the marker that routes it to the run that provides it.
_MARKER_OF_FIXTURE = {"postgres_url": "postgres", "chromium_path": "browser"}


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1"}


def _unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it on CI, where every backend must be present."""
    if _on_ci():
        pytest.fail(f"{reason} (CI=true, so this is an error)", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the marker of the backend fixtures it asks for."""
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            marker = _MARKER_OF_FIXTURE.get(fixture)
            if marker is not None and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the test PostgreSQL database; `make test` provides one, emptied at its start."""
    url = os.environ.get("INBOX_TEST_POSTGRES_URL", "")
    if not url:
        _unavailable(
            "INBOX_TEST_POSTGRES_URL is not set "
            "(`make test` sets it, or: export INBOX_TEST_POSTGRES_URL=$(scripts/postgres.sh start))"
        )
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of Debian's Chromium, for Playwright's `executable_path`."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing (`make browsers` installs it)")
    return str(CHROMIUM)
