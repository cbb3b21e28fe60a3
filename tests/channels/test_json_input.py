"""JSON read from outside: the values Python's reading gives, numbers no column keeps refused,
and the bodies whose strings need no look for text no database can keep."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.json_input import (
    DEEPEST,
    LARGEST_INT,
    SMALLEST_INT,
    TooDeep,
    UnstorableNumber,
    loads,
    may_hold_unstorable,
)
from channels.text import holds_unstorable


def _storable_numbers(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return SMALLEST_INT <= value <= LARGEST_INT
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_storable_numbers(v) for v in value)
    return all(_storable_numbers(v) for v in value.values())


def _python_reading(raw: bytes) -> Any:
    """What `loads` promises: Python's reading, with numbers no column keeps refused."""
    value = json.loads(raw)
    if not _storable_numbers(value):
        raise UnstorableNumber("refused")
    return value


def _outcome(read: Any, raw: bytes) -> Any:
    try:
        value = read(raw)
    except UnstorableNumber:
        return "unstorable number"
    except (ValueError, RecursionError):
        return "not JSON"
    # compared through JSON, so that -0.0 and 0 and 1 and 1.0 stay apart
    return json.dumps(value, sort_keys=True), repr(value)


integers = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from(
    [SMALLEST_INT, SMALLEST_INT - 1, LARGEST_INT, LARGEST_INT + 1, 2**63, -0]
)
#: any character, surrogates included, and often the ones no database keeps
texts = st.text(
    st.characters(codec=None, exclude_categories=()) | st.sampled_from(["\x00", "\ud800"]),
    max_size=8,
)
values = st.recursive(
    st.none() | st.booleans() | integers | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=10,
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A value as a client may send it: escaped or not, in UTF-8 (surrogates as their bytes,
    which Python's reading lets through) or in UTF-16."""
    value = draw(values)
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    encoding = draw(st.sampled_from(["utf-8", "utf-16-le", "utf-16"]))
    return text.encode(encoding, "surrogatepass")


@given(documents())
def test_a_document_is_read_as_python_reads_it_and_its_numbers_checked(raw: bytes) -> None:
    assert _outcome(loads, raw) == _outcome(_python_reading, raw)


@given(documents())
def test_a_document_whose_text_cannot_be_stored_is_always_looked_at(raw: bytes) -> None:
    try:
        value = loads(raw)
    except (ValueError, RecursionError):
        return
    if holds_unstorable(value):
        assert may_hold_unstorable(raw)


@pytest.mark.parametrize(
    "raw",
    [str(LARGEST_INT + 1).encode(), f"[{SMALLEST_INT - 1}]".encode(), b"1e400", b"[NaN]"],
)
def test_a_number_no_column_keeps_is_refused(raw: bytes) -> None:
    with pytest.raises(UnstorableNumber):
        loads(raw)


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_a_document_nested_deeper_than_any_column_can_be_written_is_refused(
    opening: bytes,
) -> None:
    """orjson writes no more than 254 levels: a message's badges nested deeper were read,
    then failed to be stored (a 500). Anything past DEEPEST levels is refused as it is read."""
    closing = b"]" if opening == b"[" else b"}"
    at_the_limit = opening * DEEPEST + b"1" + closing * DEEPEST
    assert loads(at_the_limit) is not None
    assert loads(at_the_limit.decode()) is not None
    for depth in (DEEPEST + 1, 300):
        with pytest.raises(TooDeep):
            loads(opening * depth + b"1" + closing * depth)
        with pytest.raises(TooDeep):
            loads((opening * depth + b"1" + closing * depth).decode())


def test_brackets_inside_text_are_not_nesting() -> None:
    raw = b'{"text": "' + b"[{" * 200 + b'"}'
    assert loads(raw) == {"text": "[{" * 200}


def test_the_largest_integers_are_read_exactly() -> None:
    assert loads(f"[{LARGEST_INT}, {SMALLEST_INT}]".encode()) == [LARGEST_INT, SMALLEST_INT]


def test_a_plain_body_needs_no_look_at_its_strings() -> None:
    body = b'{"conversationId": "c1", "message": {"content": {"basic": {"items": '
    body += '[{"text": "Your order has shipped — ça roule 🎉"}]}}}}'.encode()
    assert not may_hold_unstorable(body)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"text": "a\\u0000b"}',
        b'{"text": "\\ud800"}',
        b'{"\\udfff": 1}',
        b'{"text": "\xed\xa0\x80"}',
        '{"text": "\ud800"}'.encode("utf-16", "surrogatepass"),
    ],
)
def test_a_body_that_may_hold_unstorable_text_is_looked_at(raw: bytes) -> None:
    assert holds_unstorable(loads(raw))
    assert may_hold_unstorable(raw)
