"""Reading numbers that arrive from outside (JSON, WAV metadata, configuration files)."""

from __future__ import annotations

import math


def finite_float(value) -> float | None:
    """``value`` as a float when it is a finite real number, else None.

    Booleans are not numbers here, and JSON integers too large for a float (which make
    ``math.isfinite`` raise OverflowError) count as not finite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
