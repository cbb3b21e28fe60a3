"""Phone numbers are shown the way people write them, on any SMS-like channel."""

from __future__ import annotations

import pytest

from channels import format_phone


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+15550002222", "+1 555-000-2222"),
        ("+447700900123", "+447700900123"),  # other countries: as given
        ("15550002222", "15550002222"),  # not E.164: as given
        ("+1555000222", "+1555000222"),  # too short for North America
        ("+1555000222٣", "+1555000222٣"),  # non-ASCII digits are not a number
        ("whatsapp:+15550002222", "whatsapp:+15550002222"),
    ],
)
def test_north_american_numbers_are_grouped_and_others_kept(number: str, shown: str) -> None:
    assert format_phone(number) == shown
