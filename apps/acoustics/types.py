"""Data passed between the acoustic modules (no Django).

Times are float seconds since the Unix epoch (UTC); float64 keeps ~0.2 us there,
far below the 1 ms resolution of reported arrival times. Positions are metres in a
local east-north-up frame (the input's own frame for live-fire data).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pulse:
    """One impulse reported by one sensor: summary data only, never audio."""

    pulse_uuid: str
    sensor_id: str
    t: float
    x: float
    y: float
    z: float
    power_db_spl: float | None = None
    snr_db: float | None = None
    location_error_m: float | None = None
    features: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Weather:
    temperature_c: float = 15.0
    wind_speed_ms: float = 0.0
    # Meteorological convention: the azimuth the wind blows FROM, degrees from north.
    wind_from_deg: float = 0.0


@dataclass(frozen=True)
class LocatedShot:
    """A shot located from a consistent set of pulses (one per sensor)."""

    t_emit: float
    x: float
    y: float
    z: float | None
    pulse_uuids: tuple[str, ...]
    sensor_ids: tuple[str, ...]
    residual_rms_s: float
    # 2x2 covariance of (x, y) in m^2, and the 95% ellipse derived from it.
    cov_xy: tuple[tuple[float, float], tuple[float, float]]
    ellipse95_major_m: float
    ellipse95_minor_m: float
    ellipse95_azimuth_deg: float
    outside_hull: bool = False
    # False for 3-sensor candidates that cannot be checked for consistency.
    confident: bool = True

    @property
    def n_sensors(self) -> int:
        return len(self.sensor_ids)
