"""The adapter registry says what is wrong with a plug-in instead of calling it unknown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import pytest

from adapters.webchat import WebchatAdapter
from gateway.cli.commands import main
from gateway.config import ConfigError, parse_config
from gateway.plugins import registry
from gateway.plugins.registry import channel_specs, scan_adapters


@dataclass(frozen=True)
class StandInEntryPoint:
    """An entry point as importlib.metadata gives it: a name, a target and a loader."""

    name: str
    value: str
    loader: Callable[[], Any]

    def load(self) -> Any:
        return self.loader()


def _cannot_import() -> Any:
    raise ModuleNotFoundError("No module named 'pigeon_post'")


class CarrierPigeon(WebchatAdapter):
    """A complete adapter whose `type` is not the name it is registered under."""

    type: ClassVar[str] = "pigeon"


class HalfDone:
    """An adapter written from the five steps alone: no start, stop or lookup_profile."""

    type: ClassVar[str] = "halfdone"
    channel_type = WebchatAdapter.channel_type
    Config = WebchatAdapter.Config
    capabilities = WebchatAdapter.capabilities
    routes = WebchatAdapter.routes
    send = WebchatAdapter.send


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> list[StandInEntryPoint]:
    """Extra entry points installed beside the real ones for the duration of a test."""
    extra: list[StandInEntryPoint] = []

    def with_extra(group: str) -> list[Any]:
        return [*entry_points(group=group), *extra]

    monkeypatch.setattr(registry, "entry_points", with_extra)
    return extra


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        channel_specs(parse_config(text))
    [line] = caught.value.problems
    return line


def test_a_plugin_that_fails_to_import_is_named_with_its_error(
    plugins: list[StandInEntryPoint],
) -> None:
    plugins.append(StandInEntryPoint("pigeon", "pigeon_post:PigeonAdapter", _cannot_import))
    line = config_error("[channels.loft]\ntype = 'pigeon'\n")
    assert line.startswith("config error: channels.loft.type: the adapter type 'pigeon' is ")
    assert "installed but cannot be used" in line
    assert "pigeon_post:PigeonAdapter could not be imported: ModuleNotFoundError" in line
    assert "unknown adapter type" not in line


def test_a_class_whose_type_differs_from_its_entry_point_is_refused(
    plugins: list[StandInEntryPoint],
) -> None:
    plugins.append(StandInEntryPoint("carrier", "pigeons:CarrierPigeon", lambda: CarrierPigeon))
    scan = scan_adapters()
    assert "carrier" not in scan.adapters
    assert scan.problems["carrier"] == (
        "pigeons:CarrierPigeon declares type 'pigeon' but its entry point is named 'carrier'; "
        "the two must be the same"
    )
    assert "declares type 'pigeon'" in config_error(
        "[channels.loft]\ntype = 'carrier'\nallowed_origins = ['https://a.example']\n"
    )


def test_a_class_missing_members_of_the_protocol_is_refused_by_name(
    plugins: list[StandInEntryPoint],
) -> None:
    plugins.append(StandInEntryPoint("halfdone", "half:HalfDone", lambda: HalfDone))
    assert scan_adapters().problems["halfdone"] == (
        "half:HalfDone lacks start, stop, lookup_profile (required by channels.Adapter)"
    )


def test_the_built_in_adapters_have_no_problems() -> None:
    scan = scan_adapters()
    assert scan.problems == {}
    assert {"twilio", "messenger", "webchat"} <= set(scan.adapters)


def test_the_adapters_command_lists_a_broken_plugin_and_exits_1(
    plugins: list[StandInEntryPoint], capsys: pytest.CaptureFixture[str]
) -> None:
    plugins.append(StandInEntryPoint("pigeon", "pigeon_post:PigeonAdapter", _cannot_import))
    assert main(["adapters"]) == 1
    lines = capsys.readouterr().out.splitlines()
    [pigeon] = [line for line in lines if line.startswith("pigeon ")]
    assert "cannot be used: pigeon_post:PigeonAdapter could not be imported" in pigeon
    assert any(line.startswith("twilio ") for line in lines)


def test_the_adapters_command_shows_each_configured_channels_notes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "shop.toml"
    config.write_text(
        "[channels.sms]\ntype = 'twilio'\naccount_sid = 'AC1'\nauth_token = 't'\n"
        "from_number = '+15550001111'\nmms = false\n"
        "[channels.chat]\ntype = 'webchat'\nallowed_origins = ['https://shop.example.com']\n"
    )
    assert main(["adapters", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    channels = out.split(f"channels in {config}:\n", 1)[1].splitlines()
    assert channels[:2] == ["  sms (twilio)", "    media are sent as links"]
    assert channels[2] == "  chat (webchat)"
    assert "cards, forms and notices included" in channels[3]


def test_a_plugins_own_secret_may_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gateway resolves `<key>_env` for any key, so a plug-in's secrets need no code."""
    pytest.importorskip("echo_adapter")
    monkeypatch.setenv("ECHO_OUTBOX_KEY", "from-the-environment-42")
    text = (
        "[channels.mail]\ntype = 'echo'\noutbox_label = 'mail'\n"
        "outbox_key_env = 'ECHO_OUTBOX_KEY'\n"
    )
    [spec] = channel_specs(parse_config(text))
    assert spec.config.outbox_key == "from-the-environment-42"  # type: ignore[attr-defined]
