"""An adapter needs nothing from the contract that `channels` itself does not export."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import channels

ROOT = Path(__file__).parents[2]
#: the built-in adapters and the example plug-in: what a third-party author would copy
ADAPTER_SOURCES = sorted(
    [*ROOT.joinpath("adapters").rglob("*.py"), *ROOT.joinpath("tests/plugin_adapter").rglob("*.py")]
)


def _contract_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for each `from channels.<module> import name` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("channels."):
            found.extend((node.module or "", alias.name) for alias in node.names)
    return found


def test_every_public_name_is_importable_from_channels() -> None:
    for name in channels.__all__:
        assert getattr(channels, name) is not None, name


@pytest.mark.parametrize("path", ADAPTER_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_import_the_contract_from_channels_only(path: Path) -> None:
    """Only the test harness (`channels.testing`) is a module of its own."""
    stray = [
        f"{module}.{name}"
        for module, name in _contract_imports(path)
        if module != "channels.testing" and name not in channels.__all__
    ]
    assert stray == [], f"{path.name} imports names channels does not export: {stray}"


@pytest.mark.parametrize(
    "name", ["Button", "PostbackProperties", "Template", "unstorable", "format_phone"]
)
def test_names_third_party_authors_reached_into_submodules_for_are_exported(name: str) -> None:
    assert name in channels.__all__
