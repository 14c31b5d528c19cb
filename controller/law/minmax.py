"""min and max of two numbers, for the law's per-decision arithmetic.

Same result as the builtins: the first argument unless the second is strictly smaller
(larger), so ties and NaN come out alike. In CPython 3.11 every builtin min/max call
parses keyword arguments (`key`, `default`), which makes it about three times as slow as
these plain functions for two numbers, and a decision makes dozens of such calls.
"""
from __future__ import annotations


def min2(a, b):
    return b if b < a else a


def max2(a, b):
    return b if b > a else a
