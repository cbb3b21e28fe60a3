"""The daemon process: health endpoints, metrics, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.gateway.conftest import TOKEN, free_port


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise AssertionError(f"the daemon exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the daemon never became ready")


def start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""
[gateway]
listen = "127.0.0.1:{port}"
public_url = "{url}"
[database]
url = "sqlite:///inbox.db"
[api]
tokens = [{{ name = "crm", token = "{TOKEN}" }}]
[channels.chat]
type = "webchat"
allowed_origins = ["{url}"]
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    wait_ready(url, process)
    return process, url


def test_health_ready_and_metrics_answer(tmp_path: Path) -> None:
    process, url = start(tmp_path)
    try:
        with urllib.request.urlopen(url + "/healthz") as response:
            assert json.load(response) == {"status": "ok"}
        with urllib.request.urlopen(url + "/metrics") as response:
            text = response.read().decode()
        assert "inbox_http_requests_total" in text
        assert "inbox_writer_queue_depth" in text
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sigterm_stops_the_daemon_cleanly_and_logs_json(tmp_path: Path) -> None:
    process, _ = start(tmp_path)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    lines = process.stderr.read().decode().splitlines() if process.stderr else []
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any("listening" in r["message"] for r in records)
    assert (tmp_path / "inbox.db").exists()
    # The database was closed cleanly: no write-ahead log is left behind to replay.
    wal = tmp_path / "inbox.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
