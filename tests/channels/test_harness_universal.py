"""The checks every adapter must pass, run from a kit, catch each kind of misbehaviour."""

from __future__ import annotations

import pytest

from channels.testing import (
    UNIVERSAL_CHECKS,
    AdapterKit,
    SendCase,
    check_adapter_kit,
    run_universal_check,
    universal_tests,
)
from tests.channels.tiny_adapter import kit, part

test_the_tiny_adapter_passes_every_check = universal_tests(kit())


async def test_a_well_behaved_adapter_passes_every_check() -> None:
    assert await check_adapter_kit(kit()) == list(UNIVERSAL_CHECKS)


@pytest.mark.parametrize(
    ("fault", "check", "complaint"),
    [
        ("accept-unsigned", "rejects-unsigned", "unsigned request: answered 200"),
        ("crash-on-malformed", "rejects-malformed", "malformed request: answered 500"),
        ("unstable-id", "duplicate-stored-once", "second delivery stored another message"),
        ("log-secret", "secrets-never-logged", "number 0 in logger 'tiny_adapter'"),
        ("log-secret-when-sending", "secrets-never-logged", "in logger 'tinyvendor.http'"),
        ("log-secret-in-profile", "secrets-never-logged", "in logger 'tinyvendor.http'"),
    ],
)
async def test_each_check_catches_its_fault(fault: str, check: str, complaint: str) -> None:
    with pytest.raises(AssertionError) as failure:
        await run_universal_check(kit(fault), check)
    assert str(failure.value).startswith(f"tiny, {check}: ")
    assert complaint in str(failure.value)


async def test_the_secrets_check_runs_the_sends_as_cases() -> None:
    wrong = kit(sends=[SendCase("expects a refusal", part(), retryable=False)])
    with pytest.raises(AssertionError, match="'expects a refusal': sent"):
        await run_universal_check(wrong, "secrets-never-logged")


async def test_a_kit_missing_what_a_check_needs_says_so() -> None:
    with pytest.raises(AssertionError, match="gives no unsigned requests for 'rejects-unsigned'"):
        await run_universal_check(kit(unsigned=[]), "rejects-unsigned")
    with pytest.raises(AssertionError, match="gives no secrets"):
        await run_universal_check(kit(secrets=[""]), "secrets-never-logged")


async def test_a_kit_whose_adapter_calls_a_real_provider_fails() -> None:
    escaping = kit(
        provider=None,
        build=lambda host, _url: kit().build(host, "https://api.example.com"),
    )
    with pytest.raises(AssertionError, match=r"left the machine: api\.example\.com:443"):
        await run_universal_check(escaping, "secrets-never-logged")


def test_exemptions_must_name_known_checks() -> None:
    with pytest.raises(ValueError, match="exempts unknown checks \\['duplicate'\\]"):
        universal_tests(kit(exempt={"duplicate": "no ids"}))


def test_an_exempt_check_is_skipped_with_its_reason() -> None:
    exempt: AdapterKit = kit(exempt={"duplicate-stored-once": "visitors carry no provider ids"})
    test = universal_tests(exempt)
    with pytest.raises(pytest.skip.Exception, match="tiny is exempt: visitors carry no"):
        test("duplicate-stored-once")
