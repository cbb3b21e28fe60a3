"""The providers' loopback fakes, found through their entry points like adapters."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

#: entry points a provider package offers for its loopback fake (`name = "module:Class"`);
#: the built-in adapters register theirs like any plug-in, so the daemon never names them
FAKES_GROUP = "inbox_gateway.fakes"
#: the Facebook Page the sandbox's fake Graph API plays
PAGE_ID = "1234567890"


def load_fake(name: str) -> Any:
    """The fake provider class registered as `name` in the fakes' entry-point group."""
    for point in entry_points(group=FAKES_GROUP):
        if point.name == name:
            return point.load()
    raise LookupError(f"no loopback fake {name!r} is installed (entry-point group {FAKES_GROUP})")


def fake_module(name: str) -> Any:
    """The module of a fake, for its webhook helpers (event builders, signed posts)."""
    return importlib.import_module(load_fake(name).__module__)
