"""How far off a located position may be, as officers read it: "95% within 3.1 m".

The figure is the semi-major axis of the fix's 95% error ellipse as the pipeline stores it
(``Incident.ellipse_major_m``, the best shot's ``LocatedShot.ellipse95_major_m``): the
robust fit's covariance estimated from its own residuals (Huber's asymptotic form, timing
sigma floored at ``MIN_TIMING_SIGMA_S``) and the 2 F(2, n-3) quantile
(``apps.acoustics.location.refine``). So residuals of several ms give a proportionally
larger figure; with many sensors around the source it can still be well under a metre,
because the fix averages the sensors' errors.

Display rule: at least one significant figure, rounded *up* at the shown precision (a
"within" claim must not be shortened by rounding), so it is never "0 m": below 1 m one
significant figure (0.24 -> "0.3"), below 10 m one decimal (3.04 -> "3.1"), else whole
metres (12.2 -> "13").
"""

from __future__ import annotations

import math

# Rounding up a value that is already on the grid (0.3 stored as 0.30000000000000004)
# must not add a step.
_GRID_TOLERANCE = 1e-9


def _step(value_m: float) -> float:
    if value_m >= 10.0:
        return 1.0
    if value_m >= 1.0:
        return 0.1
    # One significant figure: 0.24 -> step 0.1, 0.024 -> 0.01.
    return 10.0 ** math.floor(math.log10(value_m))


def within_m(semi_major_m: float | None) -> float | None:
    """The 95% radius as shown: rounded up to its display precision; None if unknown."""
    if semi_major_m is None:
        return None
    try:
        value = float(semi_major_m)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value < 0.0:
        return None
    if value == 0.0:
        # A zero-size ellipse is no claim of perfection: the fit had no spread to measure.
        return None
    step = _step(value)
    shown = math.ceil(value / step - _GRID_TOLERANCE) * step
    # The rounding may cross into the next precision band (0.96 -> 1.0, 9.96 -> 10.0).
    return round(shown, max(0, -math.floor(math.log10(step))))


def within_text(semi_major_m: float | None) -> str:
    """ "3.1 m", "0.3 m", "13 m"; "unknown" when there is no usable figure."""
    shown = within_m(semi_major_m)
    if shown is None:
        return "unknown"
    if shown >= 10.0:
        return f"{shown:.0f} m"
    if shown >= 1.0:
        return f"{shown:.1f} m"
    decimals = -math.floor(math.log10(shown))
    return f"{shown:.{decimals}f} m"
