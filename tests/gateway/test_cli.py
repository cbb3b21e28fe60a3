"""The `inbox-gateway` command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from gateway.cli.commands import main


def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", "config.example.toml"]) == 0
    assert "channels: chat (webchat)" in capsys.readouterr().out


def test_check_config_names_each_bad_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway]\nlisten = 'nowhere'\n[channels.sms]\ntype = 'twilio'\n")
    assert main(["check-config", "--config", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("config error: gateway.listen:") for line in err)


def test_check_config_of_a_missing_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--config", str(tmp_path / "nope.toml")]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("config error: cannot read")


def test_hash_password_makes_an_argon2_hash() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "hash-password", "--password-stdin"],
        input="s3cret\n",
        capture_output=True,
        text=True,
        check=True,
    )
    hashed = result.stdout.strip()
    assert hashed.startswith("$argon2id$")
    assert PasswordHasher().verify(hashed, "s3cret")


def test_adapters_lists_the_built_in_types(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adapters"]) == 0
    names = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert {"twilio", "messenger", "webchat"} <= names


def test_migrate_creates_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[database]\nurl = 'sqlite:///m.db'\n")
    assert main(["migrate", "--config", str(config)]) == 0
    assert (tmp_path / "m.db").exists()
    assert main(["migrate", "--config", str(config)]) == 0  # already there: a no-op


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "check-config", "hash-password", "adapters", "migrate"):
        assert command in out
