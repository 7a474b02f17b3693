import math

import pytest

from apps.acoustics.numbers import finite_float


@pytest.mark.parametrize("value, expected", [(3, 3.0), (-2.5, -2.5), (0, 0.0), (1e308, 1e308)])
def test_finite_numbers_come_back_as_floats(value, expected):
    number = finite_float(value)
    assert isinstance(number, float) and number == expected


@pytest.mark.parametrize(
    "value", [math.inf, -math.inf, math.nan, 10**400, -(10**400), True, False, None, "1", [1]]
)
def test_anything_else_is_none(value):
    assert finite_float(value) is None
