"""Every installed built-in adapter passes the checks every adapter must pass: unsigned and
malformed requests refused, a duplicate stored once, no secret in any log record, nothing
leaving the machine. Adapters are found through their entry points, so a new built-in cannot
be added without a kit; a check an adapter is exempt from is not run, and its kit says why."""

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


#: (adapter type, check) of every built-in, less the checks its kit is exempt from (with the
#: reason in the kit: a skip would fail CI, where every test must run)
CASES = [
    (adapter_type, check)
    for adapter_type, target in INSTALLED
    if target.startswith("adapters.")  # a plug-in runs these checks in its own tests
    for check in UNIVERSAL_CHECKS
    if adapter_type not in KITS or check not in KITS[adapter_type].exempt
]


@pytest.mark.parametrize(("adapter_type", "check"), CASES, ids=[f"{a}-{c}" for a, c in CASES])
async def test_every_adapter_passes_the_universal_checks(adapter_type: str, check: str) -> None:
    kit = KITS.get(adapter_type)
    assert kit is not None, f"the built-in adapter {adapter_type} has no kit in {__name__}.KITS"
    await run_universal_check(kit, check)


def test_every_exemption_says_why() -> None:
    for adapter_type, kit in KITS.items():
        for check, reason in kit.exempt.items():
            assert check in UNIVERSAL_CHECKS, f"{adapter_type} is exempt from an unknown {check}"
            assert len(reason.split()) >= 3, f"{adapter_type}: say why it is exempt from {check}"


def test_the_built_ins_are_all_installed() -> None:
    assert {name for name, _ in INSTALLED} >= set(KITS)
