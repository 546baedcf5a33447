"""Rules for the values read from untrusted files: what a model file's header may hold.

A rule is a pair ``(predicate, description)``: the predicate takes a decoded JSON
value and says whether it is allowed, the description says what is, in the words
an error message uses ("parameter n_bands must be an integer from 1 to 1048576;
received ..."). :func:`sk_icnet.io.register_model_format` takes a table of them,
name -> rule; the ICNet and STRF model files build theirs from these.

>>> rule, description = either(NONE, integer(1, MAX_SIZE))
>>> rule(None), rule(3), rule(0), rule(True)
(True, True, False, False)
>>> description
'one of None or an integer from 1 to 1048576'
"""

from __future__ import annotations

from .validation import is_json_int, is_json_real

__all__ = ["integer", "real", "one_of", "either", "list_of", "text", "BOOL", "NONE", "POSITIVE",
           "MAX_SIZE", "MAX_COUNT", "INT_LIMIT"]

#: largest size (channels, filters, kernel, samples per bin) read from a model file
MAX_SIZE = 1 << 20
#: largest number of layers, classes or lags read from a model file
MAX_COUNT = 1 << 12
#: largest integer a rule allows unless told otherwise (a C int)
INT_LIMIT = 2 ** 31 - 1


def integer(low, high=INT_LIMIT):
    """An integer (not a bool) from ``low`` to ``high``."""
    return (lambda v: is_json_int(v, low, high)), f"an integer from {low} to {high}"


def real(low=0.0, *, strict=True):
    """A finite number above ``low`` (at least ``low`` with ``strict=False``)."""
    def rule(v):
        return is_json_real(v) and (v > low if strict else v >= low)
    return rule, f"a finite number {'>' if strict else '>='} {low:g}"


def one_of(*values):
    """One of ``values``, of the same type (``1`` is not ``True``, nor ``1.0``)."""
    def rule(v):
        return any(v is x or (type(v) is type(x) and v == x) for x in values)
    return rule, "one of " + ", ".join(map(repr, values))


def either(*rules):
    """What any of ``rules`` allows."""
    return (lambda v: any(rule(v) for rule, _ in rules)), " or ".join(d for _, d in rules)


def list_of(item, min_len=1, max_len=MAX_COUNT):
    """A list of ``min_len`` to ``max_len`` values, each allowed by the rule ``item``."""
    rule, description = item
    return ((lambda v: isinstance(v, list) and min_len <= len(v) <= max_len
             and all(rule(x) for x in v)),
            f"a list of {min_len} to {max_len} values, each {description}")


def text(max_len=64):
    """A string of 1 to ``max_len`` characters."""
    return ((lambda v: isinstance(v, str) and 0 < len(v) <= max_len),
            f"a string of 1 to {max_len} characters")


BOOL = one_of(True, False)
NONE = one_of(None)
POSITIVE = real()
