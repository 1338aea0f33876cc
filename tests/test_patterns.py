"""Operators' patterns on publishers' and buyers' text: re's meaning, and a time limit.

A pattern that backtracks (here `^(a|a)*$`: each `a` may be either branch, so a text of n
a's and one other character has 2**n ways to fail) would run for longer than the universe
under `re`; under pingtree.patterns it is stopped at LIMIT_S. The elapsed-time bound below
is a generous margin (20x the limit), not a benchmark.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingtree.patterns import LIMIT_S, TooSlow, compile_pattern

BACKTRACKS = r"^(a|a)*$"
MADE_FOR_IT = "a" * 3000 + "!"


@pytest.mark.parametrize("call", ["search", "fullmatch"])
def test_a_pattern_that_backtracks_is_stopped_at_the_limit(call: str) -> None:
    pattern = compile_pattern(BACKTRACKS)
    started = time.monotonic()
    with pytest.raises(TooSlow) as stopped:
        getattr(pattern, call)(MADE_FOR_IT)
    assert time.monotonic() - started < LIMIT_S * 20
    assert BACKTRACKS in str(stopped.value)
    assert stopped.value.pattern == BACKTRACKS


def test_a_scan_for_matches_is_stopped_too_and_keeps_at_most_what_it_is_asked() -> None:
    with pytest.raises(TooSlow):
        compile_pattern(r"(a|a)*$").finditer(MADE_FOR_IT, 10)
    found = compile_pattern(r"\d+").finditer("1 22 333 4444", 3)
    assert [m.group(0) for m in found] == ["1", "22", "333"]


def test_the_same_pattern_on_an_ordinary_text_matches_as_re_does() -> None:
    assert compile_pattern(BACKTRACKS).fullmatch("aaaa") is not None
    found = compile_pattern(r"price=(?P<price>\d+\.\d\d)").search("ok price=12.50;")
    assert found is not None and found.groupdict() == {"price": "12.50"}


def test_flags_mean_what_re_s_mean() -> None:
    assert compile_pattern("^good$", ignore_case=True).search("GOOD") is not None
    assert compile_pattern("^good$").search("GOOD") is None
    arabic_indic_three = "\u0663"
    assert compile_pattern(r"^\d$").fullmatch(arabic_indic_three) is not None
    assert compile_pattern(r"^\d$", ascii=True).fullmatch(arabic_indic_three) is None


def test_a_pattern_that_is_not_one_says_why() -> None:
    with pytest.raises(ValueError, match="not a valid regular expression"):
        compile_pattern("(unclosed")


PATTERNS = [r"\d{3}", r"^[A-Z][a-z]+$", r"(ab|a)c", r"x*y+", r"(?i)yes|no", r"\bword\b", r"^$"]


@given(st.sampled_from(PATTERNS), st.text(alphabet="abcxyWordYESno 0123\n", max_size=40))
def test_searches_find_what_re_finds(source: str, text: str) -> None:
    ours = compile_pattern(source).search(text)
    theirs = re.search(source, text)
    assert (ours and ours.span()) == (theirs and theirs.span())
