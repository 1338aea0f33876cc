"""Deadline: durations in with their unit, seconds left out, on the injected clock."""

from __future__ import annotations

import pytest

from pingtree.clock import Deadline
from tests.routing.catalogs import NOW
from tests.routing.memory_ports import StoppedClock


def test_a_deadline_counts_down_on_the_clock_it_was_set_on() -> None:
    clock = StoppedClock(NOW, monotonic=100.0)
    deadline = Deadline.after_ms(clock, 500)
    assert deadline == Deadline(100.5)
    clock.advance(0.2)
    assert deadline.left_s(clock) == pytest.approx(0.3)
    assert deadline.left_s(clock, lateness_s=0.05) == pytest.approx(0.25)
    assert not deadline.passed(clock)


def test_a_deadline_from_an_earlier_start_and_its_margins() -> None:
    clock = StoppedClock(NOW, monotonic=100.0)
    deadline = Deadline.after_ms(clock, 1000, start=99.5)
    assert deadline.at == pytest.approx(100.5)
    assert deadline.earlier_ms(40).at == pytest.approx(100.46)
    clock.advance(0.51)
    assert deadline.left_s(clock) < 0
    assert deadline.passed(clock)
    assert not deadline.passed(clock, grace_ms=15)
