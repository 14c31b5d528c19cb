"""min2/max2 stand in for the builtins in the law's hot path: they must agree with them."""
import math

from hypothesis import given
from hypothesis import strategies as st

from controller.law.minmax import max2, min2

numbers = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True))


def _same(a, b) -> bool:
    """Equal value and type, NaN equal to NaN (the builtins may return either argument)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


@given(numbers, numbers)
def test_min2_and_max2_agree_with_the_builtins(a, b):
    assert _same(min2(a, b), min(a, b))
    assert _same(max2(a, b), max(a, b))


def test_ties_keep_the_first_argument_like_the_builtins():
    # 1 == 1.0: which one comes back shows in the type
    assert type(min2(1, 1.0)) is int and type(min(1, 1.0)) is int
    assert type(max2(1.0, 1)) is float and type(max(1.0, 1)) is float


def test_nan_first_comes_back_like_the_builtins():
    assert math.isnan(min2(math.nan, 1.0)) and math.isnan(min(math.nan, 1.0))
    assert min2(1.0, math.nan) == 1.0 == min(1.0, math.nan)
