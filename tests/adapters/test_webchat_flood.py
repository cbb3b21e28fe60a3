"""The per-visitor flood limit of the web chat."""

from __future__ import annotations

from adapters.webchat.flood import FloodGate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_visitor_may_send_up_to_the_limit_within_the_window() -> None:
    clock = Clock()
    gate = FloodGate(limit=3, window=10, clock=clock)
    assert [gate.allow("v_a") for _ in range(4)] == [True, True, True, False]


def test_the_window_slides_so_a_patient_visitor_may_write_again() -> None:
    clock = Clock()
    gate = FloodGate(limit=2, window=10, clock=clock)
    assert gate.allow("v_a")
    clock.now += 6
    assert gate.allow("v_a")
    assert not gate.allow("v_a")
    clock.now += 5  # the first message left the window; the second has not
    assert gate.allow("v_a")
    assert not gate.allow("v_a")


def test_one_visitors_flood_does_not_silence_another() -> None:
    gate = FloodGate(limit=1, window=10, clock=Clock())
    assert gate.allow("v_a")
    assert not gate.allow("v_a")
    assert gate.allow("v_b")


def test_refused_messages_do_not_extend_the_wait() -> None:
    clock = Clock()
    gate = FloodGate(limit=1, window=10, clock=clock)
    assert gate.allow("v_a")
    for _ in range(5):
        clock.now += 1
        assert not gate.allow("v_a")
    clock.now += 5
    assert gate.allow("v_a")
