"""The `inbox-gateway` command line."""

from __future__ import annotations

import socket
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


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_password_piped_from_windows_is_hashed_without_its_carriage_return() -> None:
    result = _run("hash-password", "--password-stdin", stdin="s3cret\r\n")
    assert PasswordHasher().verify(result.stdout.strip(), "s3cret")


def test_hash_password_without_a_terminal_is_one_line() -> None:
    """Ctrl-D or no terminal: it was an EOFError traceback."""
    result = _run("hash-password")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("no password given (use --password-stdin to pipe one)")


def _config(tmp_path: Path, listen: str, database: str) -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(
        f"[gateway]\nlisten = '{listen}'\npublic_url = 'http://{listen}'\n"
        f"[database]\nurl = '{database}'\n"
    )
    return path


def test_run_on_an_address_in_use_is_one_line_naming_the_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        config = _config(tmp_path, listen, "sqlite:///inbox.db")
        result = _run("run", "--config", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"config error: gateway.listen: cannot listen on {listen}:")
    assert "address already in use" in last
    assert "listening on" not in result.stderr, "it said so before it tried"


@pytest.mark.parametrize("command", ["run", "migrate"])
def test_a_database_that_cannot_be_opened_is_one_line_naming_the_key(
    tmp_path: Path, command: str
) -> None:
    config = _config(tmp_path, "127.0.0.1:9", "sqlite:////nonexistent/folder/inbox.db")
    result = _run(command, "--config", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "config error: database.url: cannot open the database: unable to open database file"
    )


def test_the_log_level_is_one_of_four_in_any_case(capsys: pytest.CaptureFixture[str]) -> None:
    """`--log-level LOUD` was taken without a word."""
    from gateway.cli.commands import parser

    assert parser().parse_args(["run", "--log-level", "debug"]).log_level == "DEBUG"
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["run", "--log-level", "LOUD"])
    assert exited.value.code == 2
    assert "invalid choice: 'LOUD'" in capsys.readouterr().err
