"""Adapters, found only through the `inbox_gateway.adapters` entry points."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from pydantic import ValidationError

from channels import Adapter, ChannelConfig, ChannelHost
from gateway.config import Config, ConfigError, describe, example_credentials, load_config

GROUP = "inbox_gateway.adapters"
#: what the gateway uses of an adapter class (`default_rate_per_second` may be left out)
REQUIRED_MEMBERS = (
    "type",
    "channel_type",
    "Config",
    "capabilities",
    "routes",
    "start",
    "stop",
    "send",
    "lookup_profile",
)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdapterScan:
    """The adapter classes installed under the entry-point group, and those that cannot be used."""

    adapters: dict[str, type[Any]] = field(default_factory=dict)
    #: entry-point name -> why it cannot be used (an import error, a mismatched `type`, ...)
    problems: dict[str, str] = field(default_factory=dict)


def scan_adapters() -> AdapterScan:
    """Load every adapter entry point; a broken plug-in is reported, never fatal."""
    scan = AdapterScan()
    for point in entry_points(group=GROUP):
        problem = _load(point, scan.adapters)
        if problem is not None:
            scan.problems[point.name] = problem
            log.error("adapter %s cannot be used: %s", point.name, problem)
    return scan


def installed_adapters() -> dict[str, type[Any]]:
    """Every usable adapter class registered under the entry-point group, by its type name."""
    return scan_adapters().adapters


def _load(point: EntryPoint, into: dict[str, type[Any]]) -> str | None:
    """Load one entry point into `into`; answers why it cannot be used, or None."""
    try:
        adapter_class = point.load()
    except Exception as exc:  # a broken plug-in must not take the daemon down
        return f"{point.value} could not be imported: {type(exc).__name__}: {exc}"
    missing = [name for name in REQUIRED_MEMBERS if not hasattr(adapter_class, name)]
    if missing:
        return f"{point.value} lacks {', '.join(missing)} (required by channels.Adapter)"
    declared = adapter_class.type
    if declared != point.name:
        return (
            f"{point.value} declares type {declared!r} but its entry point is named "
            f"{point.name!r}; the two must be the same"
        )
    config_model = adapter_class.Config
    if not (isinstance(config_model, type) and issubclass(config_model, ChannelConfig)):
        return f"{point.value}.Config is not a subclass of channels.ChannelConfig"
    into[point.name] = adapter_class
    return None


@dataclass(frozen=True)
class ChannelSpec:
    """A configured channel: its id, its adapter class and its validated settings."""

    channel_id: str
    adapter_class: type[Any]
    config: ChannelConfig

    @property
    def rate_per_second(self) -> float | None:
        if self.config.rate_per_second is not None:
            return self.config.rate_per_second
        return cast(float | None, getattr(self.adapter_class, "default_rate_per_second", None))

    def build(self, host: ChannelHost) -> Adapter:
        return cast(Adapter, self.adapter_class(self.channel_id, self.config, host))


def channel_specs(
    config: Config, available: dict[str, type[Any]] | None = None
) -> list[ChannelSpec]:
    """Validate every `[channels.<id>]` table with its adapter's own model."""
    scan = scan_adapters() if available is None else AdapterScan(adapters=available)
    adapters = scan.adapters
    specs: list[ChannelSpec] = []
    problems: list[str] = []
    for channel_id, table in config.channels.items():
        type_name = table.get("type")
        adapter_class = adapters.get(str(type_name))
        if adapter_class is None:
            broken = scan.problems.get(str(type_name))
            if broken is not None:
                problems.append(
                    f"config error: channels.{channel_id}.type: the adapter type {type_name!r} "
                    f"is installed but cannot be used: {broken}"
                )
                continue
            known = ", ".join(sorted(adapters)) or "none"
            problems.append(
                f"config error: channels.{channel_id}.type: unknown adapter type "
                f"{type_name!r}; installed: {known}"
            )
            continue
        model = cast(type[ChannelConfig], adapter_class.Config)
        try:
            settings = model.model_validate(table)
        except ValidationError as exc:
            problems.extend(describe(exc, prefix=f"channels.{channel_id}."))
            continue
        specs.append(ChannelSpec(channel_id, adapter_class, settings))
    if problems:
        raise ConfigError(problems)
    return specs


def load_checked_config(path: str) -> Config:
    """The configuration file, with every channel table validated by its adapter's own model,
    and without the example's credentials when other machines can reach the gateway."""
    config = load_config(path)
    channel_specs(config)
    problems = example_credentials(config)
    if problems:
        raise ConfigError(problems)
    return config
