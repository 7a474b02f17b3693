"""Plain geometry on GeoJSON-style coordinates: no Django, no GIS libraries.

Coordinates are ``(lon, lat)`` pairs as in GeoJSON. A Polygon is a list of rings (the
first is the outer boundary, the rest are holes); a MultiPolygon is a list of Polygons.
Point-in-polygon uses ray casting on the plane of lon/lat degrees, which is exact enough
for city-sized areas; distances use the haversine formula on a spherical Earth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

EARTH_RADIUS_M = 6_371_008.8

Position = Sequence[float]  # (lon, lat)
Ring = Sequence[Position]
PolygonCoords = Sequence[Ring]


class GeometryError(ValueError):
    """The geometry is not a usable GeoJSON Polygon or MultiPolygon."""


def point_in_ring(*, lon: float, lat: float, ring: Ring) -> bool:
    """Ray casting: count how often a ray going east from the point crosses the ring.

    Points exactly on an edge count as inside, so neighbouring shapes that share an
    edge both claim it; callers that need one answer take the first match.
    """
    inside = False
    count = len(ring)
    if count < 3:
        return False
    j = count - 1
    for i in range(count):
        xi, yi = ring[i][0], ring[i][1]
        xj, yj = ring[j][0], ring[j][1]
        if _on_segment(lon, lat, xi, yi, xj, yj):
            return True
        if (yi > lat) != (yj > lat):
            x_cross = xi + (lat - yi) * (xj - xi) / (yj - yi)
            if lon < x_cross:
                inside = not inside
        j = i
    return inside


def _on_segment(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> bool:
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    if abs(cross) > 1e-12:
        return False
    return min(ax, bx) - 1e-12 <= px <= max(ax, bx) + 1e-12 and (
        min(ay, by) - 1e-12 <= py <= max(ay, by) + 1e-12
    )


def point_in_polygon(*, lon: float, lat: float, polygon: PolygonCoords) -> bool:
    """Inside the outer ring and not strictly inside any hole."""
    if not polygon:
        return False
    if not point_in_ring(lon=lon, lat=lat, ring=polygon[0]):
        return False
    for hole in polygon[1:]:
        if point_in_ring(lon=lon, lat=lat, ring=hole) and not _on_ring_edge(lon, lat, hole):
            return False
    return True


def _on_ring_edge(lon: float, lat: float, ring: Ring) -> bool:
    return any(
        _on_segment(lon, lat, ring[i - 1][0], ring[i - 1][1], ring[i][0], ring[i][1])
        for i in range(len(ring))
    )


def polygons_of(geometry: dict[str, Any]) -> list[PolygonCoords]:
    """The list of polygons of a GeoJSON Polygon or MultiPolygon geometry."""
    if not isinstance(geometry, dict):
        raise GeometryError("A geometry must be a GeoJSON object.")
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list):
        raise GeometryError("A geometry needs a list of coordinates.")
    if kind == "Polygon":
        return [coordinates]
    if kind == "MultiPolygon":
        return list(coordinates)
    raise GeometryError(f"Unsupported geometry type {kind!r}; use Polygon or MultiPolygon.")


def geometry_contains(*, geometry: dict[str, Any], lon: float, lat: float) -> bool:
    return any(
        point_in_polygon(lon=lon, lat=lat, polygon=polygon) for polygon in polygons_of(geometry)
    )


def validate_geometry(geometry: dict[str, Any]) -> None:
    """Raise GeometryError unless every ring is closed, has 4+ positions and sane lon/lat."""
    for polygon in polygons_of(geometry):
        if not polygon:
            raise GeometryError("A polygon needs at least an outer ring.")
        for ring in polygon:
            if len(ring) < 4:
                raise GeometryError("A ring needs at least four positions.")
            if list(ring[0][:2]) != list(ring[-1][:2]):
                raise GeometryError("A ring must end where it starts.")
            for position in ring:
                lon, lat = position[0], position[1]
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    raise GeometryError(f"Position {lon}, {lat} is not a longitude/latitude.")


def haversine_m(*, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def nearest_point(
    *, lat: float, lon: float, candidates: Iterable[tuple[float, float, Any]]
) -> tuple[Any, float] | None:
    """The candidate ``(lat, lon, item)`` closest to the point, with its distance in metres.

    Returns None when there are no candidates. Ties go to the first candidate seen.
    """
    best: tuple[Any, float] | None = None
    for cand_lat, cand_lon, item in candidates:
        distance = haversine_m(lat1=lat, lon1=lon, lat2=cand_lat, lon2=cand_lon)
        if best is None or distance < best[1]:
            best = (item, distance)
    return best


def bounding_box(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` of all outer rings."""
    lons: list[float] = []
    lats: list[float] = []
    for polygon in polygons_of(geometry):
        for position in polygon[0]:
            lons.append(position[0])
            lats.append(position[1])
    if not lons:
        raise GeometryError("The geometry has no positions.")
    return min(lons), min(lats), max(lons), max(lats)
