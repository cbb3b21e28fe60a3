"""Adapters, found only through the `inbox_gateway.adapters` entry points."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, cast

from pydantic import ValidationError

from channels import Adapter, ChannelConfig, ChannelHost
from gateway.config import Config, ConfigError, describe, load_config

GROUP = "inbox_gateway.adapters"
log = logging.getLogger(__name__)


def installed_adapters() -> dict[str, type[Any]]:
    """Every adapter class registered under the entry-point group, by its type name."""
    found: dict[str, type[Any]] = {}
    for point in entry_points(group=GROUP):
        try:
            found[point.name] = point.load()
        except Exception as exc:  # a broken plug-in must not take the daemon down
            log.error("adapter %s could not be loaded: %s", point.name, exc)
    return found


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
    adapters = installed_adapters() if available is None else available
    specs: list[ChannelSpec] = []
    problems: list[str] = []
    for channel_id, table in config.channels.items():
        type_name = table.get("type")
        adapter_class = adapters.get(str(type_name))
        if adapter_class is None:
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
    """The configuration file, with every channel table validated by its adapter's own model."""
    config = load_config(path)
    channel_specs(config)
    return config
