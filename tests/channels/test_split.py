"""Splitting long text for channels with a text limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from channels.split import split_text

WORDS = st.lists(st.text(alphabet="abcdéfgh😀", min_size=1, max_size=40), min_size=1, max_size=60)
SEPARATORS = st.sampled_from([" ", "  ", "\n", " \n ", "\t"])


def _squash(text: str) -> str:
    return "".join(text.split())


def test_short_text_is_one_piece_as_is() -> None:
    assert split_text("  hello\nworld ", 1600) == ["  hello\nworld "]


def test_no_limit_keeps_the_whole_text() -> None:
    text = "word " * 2000
    assert split_text(text, None) == [text]


def test_long_text_is_cut_at_spaces_without_breaking_words() -> None:
    text = " ".join(f"word{i}" for i in range(500))
    pieces = split_text(text, 1600)
    assert len(pieces) > 1
    assert all(len(p) <= 1600 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_word_longer_than_the_limit_is_hard_split() -> None:
    assert split_text("ab " + "x" * 12 + " cd", 5) == ["ab", "xxxxx", "xxxxx", "xx cd"]


def test_cut_fills_each_piece_to_keep_the_count_of_messages_low() -> None:
    assert split_text("first line\nsecond line here", 20) == ["first line\nsecond", "line here"]


def test_whitespace_only_text_yields_nothing() -> None:
    assert split_text(" \n\t ", 10) == []


@given(st.data(), st.integers(min_value=1, max_value=120))
def test_pieces_fit_and_keep_every_character(data: st.DataObject, limit: int) -> None:
    """Every piece fits; only whitespace is lost; words that fit are never broken."""
    words = data.draw(WORDS)
    text = words[0]
    for word in words[1:]:
        text += data.draw(SEPARATORS) + word
    pieces = split_text(text, limit)
    assert all(0 < len(p) <= limit and p.strip() for p in pieces)
    assert _squash("".join(pieces)) == _squash(text)
    tokens = {token for piece in pieces for token in piece.split()}
    assert all(word in tokens for word in words if len(word) <= limit)
