"""Configuration errors name their key, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, parse_config
from gateway.plugins.registry import channel_specs
from tests.support.config import GatewayConfig
from tests.support.databases import sqlite_url


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config = parse_config(text)
        channel_specs(config)
    return caught.value.problems


def test_the_example_configuration_is_valid() -> None:
    from pathlib import Path

    config = parse_config(Path("config.example.toml").read_text())
    assert [s.channel_id for s in channel_specs(config)] == ["chat"]


def test_an_unknown_key_is_named() -> None:
    assert problems("[gateway]\nlisten = '127.0.0.1:1'\nlisen = 2\n") == [
        "config error: gateway.lisen: unknown key"
    ]


def test_a_wrong_type_is_named() -> None:
    [line] = problems("[gateway]\nmax_body_bytes = 'big'\n")
    assert line.startswith("config error: gateway.max_body_bytes:")


def test_a_missing_channel_key_is_named_by_the_adapter_model() -> None:
    text = "[channels.sms]\ntype = 'twilio'\nauth_token = 't'\nfrom_number = '+15550001111'\n"
    assert "config error: channels.sms.account_sid: required" in problems(text)


def test_an_unknown_adapter_type_lists_the_installed_ones() -> None:
    [line] = problems("[channels.x]\ntype = 'pigeon'\n")
    assert line.startswith("config error: channels.x.type: unknown adapter type 'pigeon'")
    assert "twilio" in line and "messenger" in line and "webchat" in line


def test_secrets_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TOKEN", "from-the-environment-123")
    config = parse_config("[api]\ntokens = [{ name = 'crm', token_env = 'TEST_TOKEN' }]\n")
    assert config.api.tokens[0].token == "from-the-environment-123"


def test_a_missing_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    lines = problems("[[webhooks]]\nurl = 'http://x'\nsecret_env = 'NOPE_NOT_SET'\n")
    assert lines[0] == (
        "config error: webhooks[0].secret_env: environment variable NOPE_NOT_SET is not set"
    )


def test_bad_toml_is_one_clear_line() -> None:
    [line] = problems("[gateway\n")
    assert line.startswith("config error: not valid TOML")


def test_a_bad_channel_id_is_named() -> None:
    lines = problems("[channels.Bad_Id]\ntype = 'webchat'\nallowed_origins = []\n")
    assert any(line.startswith("config error: channels.Bad_Id:") for line in lines)


def test_several_processes_on_sqlite_are_refused_naming_the_key(tmp_path: Path) -> None:
    config = GatewayConfig(database_url=sqlite_url(tmp_path), processes=2)
    with pytest.raises(ConfigError) as caught:
        config.parse()
    [line] = caught.value.problems
    assert line.startswith("config error: gateway.processes: several processes need PostgreSQL")


def test_several_processes_on_postgresql_are_accepted() -> None:
    config = GatewayConfig(database_url="postgresql://inbox@db.example/inbox", processes=4)
    assert config.parse().gateway.processes == 4
