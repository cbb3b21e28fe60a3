"""The example's `agent`/`agent` login and sample API token work on loopback only: reachable
from other machines, `check-config` and `run` refuse them, naming the key to change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from gateway.cli.commands import main
from gateway.config import EXAMPLE_PASSWORD_HASH

EXAMPLE = Path("config.example.toml").read_text()


def with_hash(text: str, password_hash: str) -> str:
    """The configuration with the agent's password hash replaced."""
    changed = text.replace(EXAMPLE_PASSWORD_HASH, password_hash)
    assert changed != text
    return changed


def variant(tmp_path: Path, text: str) -> str:
    path = tmp_path / "inbox-gateway.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("listen", '"0.0.0.0:8080"'),
        ("public_url", '"https://inbox.example.com"'),
        ("listen", '"[::]:8080"'),
    ],
)
def test_the_example_credentials_are_refused_when_reachable_from_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: str
) -> None:
    text = EXAMPLE.replace(
        f'{key} = "127.0.0.1:8080"' if key == "listen" else f'{key} = "http://127.0.0.1:8080"',
        f"{key} = {value}",
    )
    assert text != EXAMPLE
    assert main(["check-config", "--config", variant(tmp_path, text)]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("config error: agents[0].password_hash: this is the example's")
    assert "inbox-gateway hash-password" in errors[0]
    assert errors[1].startswith("config error: api.tokens[0].token: this is the example's")


def test_the_same_password_under_another_salt_is_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rehashed = PasswordHasher(time_cost=1, memory_cost=8192).hash("agent")
    text = with_hash(EXAMPLE, rehashed)
    text = text.replace('listen = "127.0.0.1:8080"', 'listen = "192.0.2.10:8080"')
    text = text.replace("example-token-change-me-0123456789", "a-token-of-our-own-9f8e7d6c5b4a")
    assert main(["check-config", "--config", variant(tmp_path, text)]) == 1
    [error] = capsys.readouterr().err.splitlines()
    assert error.startswith("config error: agents[0].password_hash:")


def test_new_credentials_are_accepted_anywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = PasswordHasher(time_cost=1, memory_cost=8192).hash("a long passphrase of our own")
    text = EXAMPLE.replace('listen = "127.0.0.1:8080"', 'listen = "0.0.0.0:8080"')
    text = text.replace("example-token-change-me-0123456789", "a-token-of-our-own-9f8e7d6c5b4a")
    text = with_hash(text, fresh)
    assert main(["check-config", "--config", variant(tmp_path, text)]) == 0
    assert capsys.readouterr().err == ""


def test_the_example_runs_as_it_is_on_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", "config.example.toml"]) == 0


def test_run_refuses_to_start_with_them(tmp_path: Path) -> None:
    text = EXAMPLE.replace('listen = "127.0.0.1:8080"', 'listen = "0.0.0.0:0"')
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "run", "--config", variant(tmp_path, text)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "config error: agents[0].password_hash:" in result.stderr
    assert not (tmp_path / "inbox.db").exists()
