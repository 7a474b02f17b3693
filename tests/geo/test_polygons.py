"""Pure geometry: ray casting with holes and multipolygons, haversine, nearest point."""

import math

import pytest

from apps.geo.polygons import (
    GeometryError,
    bounding_box,
    geometry_contains,
    haversine_m,
    nearest_point,
    point_in_polygon,
    point_in_ring,
    validate_geometry,
)

SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
HOLE = [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]
# An L shape: concave, so a naive bounding-box test would be wrong at (8, 8).
L_SHAPE = [[0, 0], [10, 0], [10, 5], [5, 5], [5, 10], [0, 10], [0, 0]]


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (5, 5, True),
        (0.001, 9.999, True),
        (-0.001, 5, False),
        (10.001, 5, False),
        (5, 10.5, False),
        (0, 5, True),  # on an edge counts as inside
        (10, 10, True),  # on a vertex
    ],
)
def test_point_in_square(lon, lat, expected):
    assert point_in_ring(lon=lon, lat=lat, ring=SQUARE) is expected


def test_concave_polygon():
    assert point_in_ring(lon=2, lat=8, ring=L_SHAPE)
    assert point_in_ring(lon=8, lat=2, ring=L_SHAPE)
    assert not point_in_ring(lon=8, lat=8, ring=L_SHAPE)


def test_ray_through_vertex_is_counted_once():
    # A diamond: the eastward ray from the centre passes exactly through the right vertex.
    diamond = [[0, 5], [5, 0], [10, 5], [5, 10], [0, 5]]
    assert point_in_ring(lon=5, lat=5, ring=diamond)
    assert not point_in_ring(lon=-1, lat=5, ring=diamond)


def test_ring_direction_does_not_matter():
    assert point_in_ring(lon=3, lat=3, ring=list(reversed(SQUARE)))


def test_hole_is_outside_but_its_edge_is_inside():
    polygon = [SQUARE, HOLE]
    assert point_in_polygon(lon=2, lat=2, polygon=polygon)
    assert not point_in_polygon(lon=5, lat=5, polygon=polygon)
    assert point_in_polygon(lon=4, lat=5, polygon=polygon)


def test_multipolygon_with_hole():
    geometry = {
        "type": "MultiPolygon",
        "coordinates": [[SQUARE, HOLE], [[[20, 20], [30, 20], [30, 30], [20, 30], [20, 20]]]],
    }
    assert geometry_contains(geometry=geometry, lon=1, lat=1)
    assert geometry_contains(geometry=geometry, lon=25, lat=25)
    assert not geometry_contains(geometry=geometry, lon=5, lat=5)
    assert not geometry_contains(geometry=geometry, lon=15, lat=15)


def test_real_coordinates_polygon():
    # A small box around downtown Peoria, IL (lon, lat).
    box = {
        "type": "Polygon",
        "coordinates": [
            [[-89.60, 40.68], [-89.57, 40.68], [-89.57, 40.71], [-89.60, 40.71], [-89.60, 40.68]]
        ],
    }
    assert geometry_contains(geometry=box, lon=-89.585, lat=40.695)
    assert not geometry_contains(geometry=box, lon=-89.55, lat=40.695)
    assert bounding_box(box) == (-89.60, 40.68, -89.57, 40.71)


def test_unsupported_geometry_is_rejected():
    with pytest.raises(GeometryError):
        geometry_contains(geometry={"type": "Point", "coordinates": [0, 0]}, lon=0, lat=0)
    with pytest.raises(GeometryError):
        geometry_contains(geometry={"type": "Polygon"}, lon=0, lat=0)
    with pytest.raises(GeometryError):
        geometry_contains(geometry="not a geometry", lon=0, lat=0)


def test_validate_geometry():
    validate_geometry({"type": "Polygon", "coordinates": [SQUARE]})
    with pytest.raises(GeometryError, match="end where it starts"):
        validate_geometry({"type": "Polygon", "coordinates": [SQUARE[:-1] + [[1, 1]]]})
    with pytest.raises(GeometryError, match="four positions"):
        validate_geometry({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]})
    with pytest.raises(GeometryError, match="longitude/latitude"):
        validate_geometry({"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [0, 1], [0, 0]]]})


def test_haversine_known_distances():
    assert haversine_m(lat1=40.0, lon1=-89.0, lat2=40.0, lon2=-89.0) == 0
    # One degree of latitude is about 111.2 km everywhere.
    assert haversine_m(lat1=40.0, lon1=-89.0, lat2=41.0, lon2=-89.0) == pytest.approx(
        111_195, rel=1e-3
    )
    # One degree of longitude shrinks with cos(latitude).
    expected = 111_195 * math.cos(math.radians(40.0))
    assert haversine_m(lat1=40.0, lon1=-89.0, lat2=40.0, lon2=-88.0) == pytest.approx(
        expected, rel=2e-3
    )
    # Paris to London, roughly 344 km.
    assert haversine_m(lat1=48.8566, lon1=2.3522, lat2=51.5074, lon2=-0.1278) == pytest.approx(
        343_500, rel=5e-3
    )


def test_nearest_point():
    candidates = [(40.70, -89.59, "a"), (40.69, -89.58, "b"), (40.71, -89.60, "c")]
    item, distance = nearest_point(lat=40.691, lon=-89.581, candidates=candidates)
    assert item == "b"
    assert distance == pytest.approx(
        haversine_m(lat1=40.691, lon1=-89.581, lat2=40.69, lon2=-89.58)
    )
    assert nearest_point(lat=0, lon=0, candidates=[]) is None
