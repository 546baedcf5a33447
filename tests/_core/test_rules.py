"""The rules a model file's header is checked with: each allows exactly what it describes."""

import math

import pytest

from sk_icnet._core.rules import (
    BOOL,
    MAX_COUNT,
    NONE,
    POSITIVE,
    either,
    integer,
    list_of,
    one_of,
    real,
    text,
)


@pytest.mark.parametrize("rule, allowed, refused, description", [
    (integer(1, 5), [1, 5], [0, 6, True, 2.0, "3", None], "an integer from 1 to 5"),
    (POSITIVE, [1e-9, 3, 2.5], [0, 0.0, -1, math.inf, math.nan, True, "1"], "a finite number > 0"),
    (real(0.0, strict=False), [0, 0.0, 7.5], [-1e-9, math.inf, False], "a finite number >= 0"),
    (BOOL, [True, False], [1, 0, 1.0, "True", None], "one of True, False"),
    (NONE, [None], [0, False, "None", []], "one of None"),
    (one_of("auto", 1), ["auto", 1], ["AUTO", 1.0, True], "one of 'auto', 1"),
    (text(3), ["a", "abc"], ["", "abcd", 3, None], "a string of 1 to 3 characters"),
    (list_of(integer(0, 9), 1, 2), [[0], [9, 1]], [[], [1, 2, 3], [10], (1,), [True]],
     "a list of 1 to 2 values, each an integer from 0 to 9"),
    (either(NONE, integer(1, 2)), [None, 1, 2], [0, 3, False],
     "one of None or an integer from 1 to 2"),
])
def test_a_rule_allows_what_it_describes_and_nothing_else(rule, allowed, refused, description):
    check, said = rule
    assert said == description
    assert all(check(value) for value in allowed)
    assert not any(check(value) for value in refused)


def test_a_list_is_bounded_by_default():
    check, said = list_of(BOOL)
    assert check([True] * MAX_COUNT) and not check([True] * (MAX_COUNT + 1))
    assert said.startswith(f"a list of 1 to {MAX_COUNT} values")
