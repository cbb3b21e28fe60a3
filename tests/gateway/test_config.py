"""Configuration errors name their key, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config, parse_config
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


def test_an_agent_configured_twice_is_named() -> None:
    """A login finds the first: a new hash appended for the same agent left the old working."""
    agent = "[[agents]]\nusername = 'ann'\npassword_hash = '$argon2id$v=19$m=65536,t=3,p=4$x$y'\n"
    assert problems(agent + agent) == [
        "config error: agents[1].username: 'ann' is configured twice; usernames must be unique"
    ]


@pytest.mark.parametrize("rate", ["-1", "inf", "nan"])
def test_a_pace_that_is_not_a_number_of_sends_is_named(rate: str) -> None:
    """-1 passed the check and stopped `run` with a traceback; inf and nan broke every look
    for due deliveries, and replies stayed PENDING."""
    text = "[channels.chat]\ntype = 'webchat'\nallowed_origins = ['https://shop.example']\n"
    text += f"rate_per_second = {rate}\n"
    [line] = problems(text)
    assert line.startswith("config error: channels.chat.rate_per_second:")


def test_a_pace_of_zero_turns_pacing_off() -> None:
    config = parse_config(
        "[channels.sms]\ntype = 'twilio'\nrate_per_second = 0\n"
        "account_sid = 'AC1'\nauth_token = 't'\nfrom_number = '+15550001111'\n"
    )
    [spec] = channel_specs(config)
    assert not spec.rate_per_second


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xef\xbb\xbf[gateway]\nlisten = '127.0.0.1:9'\n", None),
        (b"\xff\xfe[gateway]\n", "config error: {path} is not UTF-8 text (byte 0)"),
    ],
    ids=["a byte-order mark", "UTF-16"],
)
def test_a_config_file_in_another_encoding(
    tmp_path: Path, raw: bytes, expected: str | None
) -> None:
    """A byte-order mark was "not valid TOML"; a file that is not UTF-8 was a traceback."""
    path = tmp_path / "shop.toml"
    path.write_bytes(raw)
    if expected is None:
        assert load_config(path).gateway.listen == "127.0.0.1:9"
        return
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems[0].startswith(expected.format(path=path))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[gateway]\nprocesses = '2'\n", "gateway.processes"),
        ("[gateway]\nmax_body_bytes = true\n", "gateway.max_body_bytes"),
        ("[events]\nkeep_days = '30'\n", "events.keep_days"),
        (
            "[channels.sms]\ntype = 'twilio'\naccount_sid = 'AC1'\nauth_token = 't'\n"
            "from_number = '+15550001111'\nmms = 'no'\n",
            "channels.sms.mms",
        ),
    ],
    ids=["a number in quotes", "true for a number", "days in quotes", "'no' for a boolean"],
)
def test_a_value_of_another_type_is_named_not_guessed_at(text: str, key: str) -> None:
    """`true` was read as 1 and "no" as False: the README promises these stop start-up."""
    [line] = problems(text)
    assert line.startswith(f"config error: {key}:")


def test_the_key_the_gateway_fills_in_is_unknown_to_the_file() -> None:
    assert problems("source = 'elsewhere'\n") == ["config error: source: unknown key"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[gateway]\npublic_url = 'http://'\n", "gateway.public_url"),
        ("[gateway]\npublic_url = 'http://exa mple.com'\n", "gateway.public_url"),
        ("[gateway]\npublic_url = 'http://127.0.0.1:99999'\n", "gateway.public_url"),
        ("[gateway]\nbusiness_image_url = 'javascript:alert(1)'\n", "gateway.business_image_url"),
        ("[[webhooks]]\nurl = 'http://'\nsecret = 's'\n", "webhooks.0.url"),
    ],
)
def test_a_url_without_a_host_or_of_another_scheme_is_named(text: str, key: str) -> None:
    """These passed: signatures checked against a URL no provider can call, a picture
    visitors' browsers were told to load from `javascript:`, events posted nowhere."""
    [line] = problems(text)
    assert line.startswith(f"config error: {key}:")


def test_a_password_hash_argon2_cannot_read_is_named() -> None:
    """It passed, and that agent could never log in."""
    text = "[[agents]]\nusername = 'ann'\npassword_hash = '$argon2id$garbage'\n"
    assert problems(text) == [
        "config error: agents.0.password_hash: not an argon2 hash; make one with "
        "`inbox-gateway hash-password`"
    ]


def test_a_problem_of_a_whole_channel_table_names_the_table() -> None:
    """It was `channels.sms.: Value error, …`."""
    text = "[channels.sms]\ntype = 'twilio'\naccount_sid = 'AC1'\nauth_token = 't'\n"
    [line] = problems(text)
    assert line.startswith("config error: channels.sms: ") and "Value error" not in line
