"""Matching a text reply to a numbered menu of postback buttons."""

from __future__ import annotations

import pytest

from channels import Choice, match_choice

MENU = (
    Choice("Yes please", "yes"),
    Choice("No", "no"),
    Choice("Talk to a person", "agent"),
)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("1", "yes"),
        ("2", "no"),
        (" 2. ", "no"),
        ("2)", "no"),
        ("(3)", "agent"),
        ("#3", "agent"),
        ("\n3\n", "agent"),
        ("yes please", "yes"),
        ("  YES   Please ", "yes"),
        ("talk to a PERSON", "agent"),
        ("no", "no"),
        ("NO.", None),
        ("0", None),
        ("4", None),
        ("-1", None),
        ("1 2", None),
        ("yes", None),
        ("", None),
        ("   ", None),
        ("I'd say 2", None),
        ("STOP", None),
    ],
)
def test_reply_picks_the_button_by_number_or_label(reply: str, expected: str | None) -> None:
    choice = match_choice(reply, MENU)
    assert (choice.interaction_id if choice else None) == expected


def test_empty_menu_matches_nothing() -> None:
    assert match_choice("1", ()) is None


def test_a_number_out_of_range_may_still_be_a_label() -> None:
    menu = (Choice("2024", "this-year"), Choice("2025", "next-year"))
    assert match_choice("2025", menu) == menu[1]
    assert match_choice("1", menu) == menu[0]


def test_numbers_win_over_numeric_labels() -> None:
    """The menu asks for a number, so "2" means the second line even if a label reads "2"."""
    menu = (Choice("2", "two"), Choice("Other", "other"))
    assert match_choice("2", menu) == menu[1]
