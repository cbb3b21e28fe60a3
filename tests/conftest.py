"""Fixtures that find the test PostgreSQL server and Chromium, and the rule for skips.

`make test` runs the suite twice: every test not marked `postgres` on SQLite, then the tests
marked `postgres` with INBOX_TEST_POSTGRES_URL set. A test that asks for `postgres_url` is
marked for it automatically; a fixture that runs on both databases marks its PostgreSQL case
itself: `pytest.param("postgres", marks=pytest.mark.postgres)`.

A test skips when a tool it needs is missing (PostgreSQL, Chromium, node, the example
plug-in): locally that is a skip, but on CI (CI=true), where .ci/run installs every tool, a
skip is reported as a failure, so nothing passes there by not running.
"""

import os
from pathlib import Path

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


def _skip_reason(longrepr: object) -> str:
    # a skip's report holds (path, line, "Skipped: reason")
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """On CI a skipped test is a failed test (an expected failure stays what it is)."""
    report: pytest.TestReport = yield
    if _on_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"{_skip_reason(report.longrepr)} (CI=true, so this is an error)"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport:
    """On CI a module that skips itself (`pytest.importorskip`) is an error too."""
    report: pytest.CollectReport = yield
    if _on_ci() and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"{_skip_reason(report.longrepr)} (CI=true, so this is an error)"
    return report


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
        pytest.skip(
            "INBOX_TEST_POSTGRES_URL is not set "
            "(`make test` sets it, or: export INBOX_TEST_POSTGRES_URL=$(scripts/postgres.sh start))"
        )
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of Debian's Chromium, for Playwright's `executable_path`."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (`make browsers` installs it)")
    return str(CHROMIUM)
