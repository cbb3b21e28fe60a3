"""Phone numbers as people read them, for any SMS-like channel."""

from __future__ import annotations


def format_phone(number: str) -> str:
    """An E.164 number as people write it: "+1 555-000-1111" for North America, else as is.

    Adapters name a new participant by it until the provider (or an agent) knows their name.
    """
    digits = number[1:] if number.startswith("+") else ""
    if len(digits) == 11 and digits.isascii() and digits.isdigit() and digits.startswith("1"):
        return f"+1 {digits[1:4]}-{digits[4:7]}-{digits[7:]}"
    return number
