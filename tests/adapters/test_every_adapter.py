"""Every installed built-in adapter passes the checks every adapter must pass: unsigned and
malformed requests refused, a duplicate stored once, no secret in any log record, nothing
leaving the machine. Adapters are found through their entry points, so a new built-in cannot
be added without a kit; a check an adapter is exempt from is skipped with the reason."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from channels.testing import UNIVERSAL_CHECKS, AdapterKit, run_universal_check
from tests.adapters import messenger_support, twilio_support, webchat_support

KITS: dict[str, AdapterKit] = {
    "twilio": twilio_support.KIT,
    "messenger": messenger_support.KIT,
    "webchat": webchat_support.KIT,
}
INSTALLED = sorted(
    (point.name, point.value) for point in entry_points(group="inbox_gateway.adapters")
)


@pytest.mark.parametrize("check", list(UNIVERSAL_CHECKS))
@pytest.mark.parametrize(("adapter_type", "target"), INSTALLED, ids=[n for n, _ in INSTALLED])
async def test_every_adapter_passes_the_universal_checks(
    adapter_type: str, target: str, check: str
) -> None:
    if not target.startswith("adapters."):
        pytest.skip(f"{adapter_type} is a plug-in: it runs these checks in its own tests")
    kit = KITS.get(adapter_type)
    assert kit is not None, f"the built-in adapter {adapter_type} has no kit in {__name__}.KITS"
    reason = kit.exempt.get(check)
    if reason is not None:
        pytest.skip(f"{adapter_type} is exempt: {reason}")
    await run_universal_check(kit, check)


def test_the_built_ins_are_all_installed() -> None:
    assert {name for name, _ in INSTALLED} >= set(KITS)
