"""Credentials in a subscriber's URL never reach the logs, task names, CLI or `/metrics`."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from gateway.background import Options, build_sweeps
from gateway.backoff import Schedule
from gateway.cli.commands import main
from gateway.events.subscribers.redact import UNREADABLE, redact, scrub
from tests.dispatch.harness import config_text, fixed_jitter, running
from tests.support.polling import eventually
from tests.webhooks.subscriber import subscriber
from tests.webhooks.test_events_cli import IMPATIENT, emit
from tests.webhooks.test_webhooks import states_are

FAST = Options(
    webhook_schedule=Schedule((0.05, 0.1, 0.2), 0.2, timedelta(hours=24)),
    uniform=fixed_jitter,
    sweep_seconds=0.1,
)


def with_credentials(url: str) -> str:
    """The subscriber's loopback URL with a password and a token added."""
    return url.replace("http://", "http://user:pass@", 1) + "?token=s3cret#frag"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pass@hooks.example.com/in?token=s3cret", "https://hooks.example.com/in"),
        ("http://127.0.0.1:8080/hook?token=s3cret#x", "http://127.0.0.1:8080/hook"),
        ("https://token@example.com", "https://example.com"),
        ("http://[::1]:9000/a/b;p?q=1", "http://[::1]:9000/a/b;p"),
        ("https://Example.COM/Path", "https://example.com/Path"),
    ],
)
def test_a_url_is_shown_without_userinfo_query_or_fragment(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_malformed_url_is_not_shown_at_all() -> None:
    assert redact("http://user:s3cret@host:notaport/x") == UNREADABLE


def test_an_error_quoting_the_url_is_scrubbed() -> None:
    url = "http://user:pass@example.com/hook?token=s3cret"
    text = scrub(f"InvalidURL: {url} is not allowed", url)
    assert "s3cret" not in text and "pass" not in text
    assert "http://example.com/hook" in text


async def test_a_failing_subscriber_with_credentials_never_leaks_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with subscriber(statuses=[500]) as sub:
        sub.url = with_credentials(sub.url)
        async with running(tmp_path / "db.sqlite", webhooks=[sub.webhook()], options=FAST) as run:
            await run.queue("+15550001000", "hello")
            # the first POST is refused (and logged), the retry and the next event get through
            await eventually(lambda: len(sub.accepted) == 2 and len(sub.received) == 3)
            assert sub.received[0].body["id"] == sub.received[1].body["id"]
            names = [task.get_name() for task in asyncio.all_tasks()]
            assert any(n.startswith("webhook-http://127.0.0.1:") for n in names)

            # the backlog gauge job, run now rather than on its 5-second interval
            noop: list[object] = []
            scheduler = build_sweeps(run.gateway, noop.clear, noop.clear).scheduler
            job = scheduler.get_job("backlog-gauges")
            assert job is not None
            await job.func()
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{run.url}/metrics") as response,
            ):
                metrics = await response.text()

    # the loopback subscriber's own access log quotes its request line: not the gateway's
    logged = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp.access")
    )
    assert "refused event" in logged  # the failure was logged...
    assert redact(sub.url) in logged  # ...naming the subscriber it can be known by
    assert f'inbox_webhook_events_pending{{url="{redact(sub.url)}"}}' in metrics
    for shown in (logged, metrics, "\n".join(names)):
        assert "s3cret" not in shown
        assert "pass" not in shown


async def test_the_events_command_names_a_subscriber_without_its_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "db.sqlite"
    async with subscriber(status=500) as sub:
        sub.url = with_credentials(sub.url)
        config = tmp_path / "inbox-gateway.toml"
        config.write_text(config_text(db, (), webhooks=[sub.webhook()]))
        async with running(db, (), webhooks=[sub.webhook()], options=IMPATIENT) as run:
            await emit(run, "conv-1")
            await eventually(lambda: states_are(run, ["FAILED"]))
    assert main(["events", "--config", str(config), "--failed"]) == 0
    out = capsys.readouterr().out
    assert f"{redact(sub.url)}: 0 events behind" in out and "HTTP 500" in out
    assert "s3cret" not in out and "pass" not in out
