"""WGS84 <-> local ENU conversion and the sensor-hull test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.acoustics.geometry import (
    WGS84_A,
    LocalFrame,
    LocalMetres,
    ecef_to_geodetic,
    geodetic_to_ecef,
    inside_hull,
)


def test_ecef_of_known_points():
    assert geodetic_to_ecef(lat_deg=0.0, lon_deg=0.0, height_m=0.0) == pytest.approx(
        [WGS84_A, 0.0, 0.0]
    )
    north_pole = geodetic_to_ecef(lat_deg=90.0, lon_deg=0.0, height_m=0.0)
    assert north_pole == pytest.approx([0.0, 0.0, 6356752.314245], abs=1e-3)


def test_origin_is_zero_and_axes_point_east_north_up():
    frame = LocalFrame(40.44, -79.99, 250.0)  # Pittsburgh
    assert frame.to_local(lat_deg=40.44, lon_deg=-79.99, height_m=250.0) == pytest.approx(
        [0, 0, 0], abs=1e-6
    )
    east, north, up = frame.to_local(lat_deg=40.44, lon_deg=-79.98, height_m=250.0)
    assert 840 < east < 860 and abs(north) < 1.0 and up < 0  # 0.01 deg lon, earth curves away
    east, north, _ = frame.to_local(lat_deg=40.45, lon_deg=-79.99, height_m=250.0)
    assert abs(east) < 1e-6 and 1105 < north < 1115
    assert frame.to_local(lat_deg=40.44, lon_deg=-79.99, height_m=260.0)[2] == pytest.approx(10.0)


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(-89.9, 89.9),
    lon=st.floats(-180, 180),
    h=st.floats(-400, 4000),
    east=st.floats(-30000, 30000),
    north=st.floats(-30000, 30000),
    up=st.floats(-500, 500),
)
def test_round_trip_to_the_millimetre(lat, lon, h, east, north, up):
    frame = LocalFrame(lat, lon, h)
    back_lat, back_lon, back_h = frame.to_wgs84([east, north, up])
    again = frame.to_local(lat_deg=back_lat, lon_deg=back_lon, height_m=back_h)
    assert np.abs(again - [east, north, up]).max() < 1e-3


def test_geodetic_round_trip_including_poles():
    lat = np.array([0.0, 45.0, -33.9, 89.999, -90.0, 90.0])
    lon = np.array([0.0, 7.5, 151.2, -120.0, 0.0, 10.0])
    h = np.array([0.0, 100.0, -50.0, 3000.0, 10.0, -20.0])
    back = ecef_to_geodetic(geodetic_to_ecef(lat_deg=lat, lon_deg=lon, height_m=h))
    assert back[0] == pytest.approx(lat, abs=1e-9)
    assert back[2] == pytest.approx(h, abs=1e-4)


def test_bad_coordinates_are_refused():
    with pytest.raises(ValueError, match="latitude"):
        LocalFrame(91.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        LocalFrame(float("nan"), 0.0)
    with pytest.raises(ValueError, match="finite"):
        LocalFrame(40.0, -80.0).to_wgs84([float("inf"), 0.0, 0.0])


def test_local_metres_pass_through():
    frame = LocalMetres()
    xyz = frame.to_local(x=[-11784.3, 5.0], y=[3135.6, 6.0], z=[-102.0, 7.0])
    assert xyz.tolist() == [[-11784.3, 3135.6, -102.0], [5.0, 6.0, 7.0]]
    with pytest.raises(ValueError):
        frame.to_local(x=float("nan"), y=0.0)


def test_inside_hull():
    square = [(0, 0), (100, 0), (100, 100), (0, 100), (50, 50)]
    assert inside_hull(point=(50, 20), sensors_xy=square)
    assert inside_hull(point=(100, 50), sensors_xy=square)  # on an edge
    assert not inside_hull(point=(150, 50), sensors_xy=square)
    assert not inside_hull(point=(-0.1, 50), sensors_xy=square)


def test_degenerate_hulls_contain_nothing():
    assert not inside_hull(point=(5, 5), sensors_xy=[(0, 0), (10, 10), (20, 20), (30, 30)])
    assert not inside_hull(point=(0, 0), sensors_xy=[(0, 0), (0, 0), (1, 1)])
    assert not inside_hull(point=(0, 0), sensors_xy=[(0, 0)])


def test_inside_hull_answers_for_each_array_when_arrays_alternate():
    # The hull of an array is kept between calls: arrays of the same size must not mix.
    square = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]
    shifted = [(x + 1000.0, y) for x, y in square]
    for _ in range(2):
        assert inside_hull(point=(50, 50), sensors_xy=square)
        assert not inside_hull(point=(50, 50), sensors_xy=shifted)
        assert inside_hull(point=(1050, 50), sensors_xy=np.array(shifted))
        assert not inside_hull(point=(1050, 50), sensors_xy=square)
