"""Coordinates: WGS84 <-> local east-north-up metres, and the sensor-hull test.

Conversions go through Earth-centred Earth-fixed (ECEF) coordinates, so they are exact
to float precision at any distance (no flat-earth approximation). Inputs that are already
in local metres (the live-fire data) use `LocalMetres`, which passes them through.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

WGS84_A = 6378137.0  # semi-major axis, m
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared
_EP2 = (WGS84_A**2 - WGS84_B**2) / WGS84_B**2  # second eccentricity squared


def _check_lat_lon(lat_deg, lon_deg) -> None:
    lat, lon = np.asarray(lat_deg, dtype=float), np.asarray(lon_deg, dtype=float)
    if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon))):
        raise ValueError("latitude and longitude must be finite")
    if np.any(np.abs(lat) > 90.0):
        raise ValueError("latitude must be within [-90, 90] degrees")


def geodetic_to_ecef(*, lat_deg, lon_deg, height_m) -> np.ndarray:
    """WGS84 latitude/longitude (deg) and ellipsoidal height (m) -> ECEF (..., 3) metres."""
    _check_lat_lon(lat_deg, lon_deg)
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    h = np.asarray(height_m, dtype=float)
    sin_lat = np.sin(lat)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_lat**2)
    x = (n + h) * np.cos(lat) * np.cos(lon)
    y = (n + h) * np.cos(lat) * np.sin(lon)
    z = (n * (1.0 - WGS84_E2) + h) * sin_lat
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def _height_above_ellipsoid(p, z, lat):
    # p cos(lat) + z sin(lat) - a^2 / N: well conditioned at the poles as well as the equator.
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    return p * cos_lat + z * sin_lat - WGS84_A * np.sqrt(1.0 - WGS84_E2 * sin_lat**2)


def ecef_to_geodetic(ecef) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF (..., 3) metres -> (lat_deg, lon_deg, height_m), Bowring's formula + 2 refinements."""
    xyz = np.asarray(ecef, dtype=float)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    p = np.hypot(x, y)
    lon = np.arctan2(y, x)
    theta = np.arctan2(z * WGS84_A, p * WGS84_B)
    lat = np.arctan2(
        z + _EP2 * WGS84_B * np.sin(theta) ** 3, p - WGS84_E2 * WGS84_A * np.cos(theta) ** 3
    )
    for _ in range(2):  # Bowring is already sub-mm near the surface; two steps make it exact
        h = _height_above_ellipsoid(p, z, lat)
        n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
        lat = np.arctan2(z, p * (1.0 - WGS84_E2 * n / (n + h)))
    h = _height_above_ellipsoid(p, z, lat)
    return np.degrees(lat), np.degrees(lon), h


def _enu_rotation(lat_deg: float, lon_deg: float) -> np.ndarray:
    """Rows are the east, north and up unit vectors in ECEF at the given point."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    sl, cl, so, co = math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)
    return np.array(
        [
            [-so, co, 0.0],
            [-sl * co, -sl * so, cl],
            [cl * co, cl * so, sl],
        ]
    )


@dataclass(frozen=True)
class LocalFrame:
    """East-north-up metres around a WGS84 origin."""

    origin_lat_deg: float
    origin_lon_deg: float
    origin_height_m: float = 0.0

    def __post_init__(self) -> None:
        _check_lat_lon(self.origin_lat_deg, self.origin_lon_deg)
        if not math.isfinite(self.origin_height_m):
            raise ValueError("origin height must be finite")

    def _origin_ecef(self) -> np.ndarray:
        return geodetic_to_ecef(
            lat_deg=self.origin_lat_deg,
            lon_deg=self.origin_lon_deg,
            height_m=self.origin_height_m,
        )

    def to_local(self, *, lat_deg, lon_deg, height_m=0.0) -> np.ndarray:
        """WGS84 -> (..., 3) east, north, up metres."""
        ecef = geodetic_to_ecef(lat_deg=lat_deg, lon_deg=lon_deg, height_m=height_m)
        rotation = _enu_rotation(self.origin_lat_deg, self.origin_lon_deg)
        return (ecef - self._origin_ecef()) @ rotation.T

    def to_wgs84(self, enu) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(..., 3) east, north, up metres -> (lat_deg, lon_deg, height_m)."""
        enu = np.asarray(enu, dtype=float)
        if enu.shape[-1] != 3 or not np.all(np.isfinite(enu)):
            raise ValueError("local coordinates must be finite (..., 3) east, north, up")
        rotation = _enu_rotation(self.origin_lat_deg, self.origin_lon_deg)
        return ecef_to_geodetic(enu @ rotation + self._origin_ecef())


@dataclass(frozen=True)
class LocalMetres:
    """Inputs already in a local Cartesian frame in metres (e.g. the live-fire data)."""

    def to_local(self, *, x, y, z=0.0) -> np.ndarray:
        xyz = np.stack(np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, y, z))), -1)
        if not np.all(np.isfinite(xyz)):
            raise ValueError("local coordinates must be finite")
        return xyz

    def from_local(self, xyz) -> np.ndarray:
        return np.asarray(xyz, dtype=float)


@functools.lru_cache(maxsize=64)
def _hull_equations(xy_bytes: bytes) -> np.ndarray | None:
    """Facet equations of the convex hull of (n, 2) float64 points given as bytes, or None
    when they span no area. Cached: one array's sensors are tested for every shot."""
    pts = np.unique(np.frombuffer(xy_bytes).reshape(-1, 2), axis=0)
    if len(pts) < 3:
        return None
    try:
        equations = ConvexHull(pts).equations
    except QhullError:
        return None  # collinear: zero area
    equations.flags.writeable = False
    return equations


def inside_hull(*, point, sensors_xy) -> bool:
    """Is the 2D point inside (or on) the convex hull of the sensors' horizontal positions?

    Fewer than three distinct sensors, or collinear sensors, span no area: nothing is inside.
    """
    xy = np.ascontiguousarray(np.asarray(sensors_xy, dtype=float)[:, :2])
    equations = _hull_equations(xy.tobytes())
    if equations is None:
        return False
    # Facet equations: normal . p + offset <= 0 inside; allow 1 mm for points on an edge.
    p = np.asarray(point, dtype=float)[:2]
    return bool(np.all(equations[:, :2] @ p + equations[:, 2] <= 1e-3))
