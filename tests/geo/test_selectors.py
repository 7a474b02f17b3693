"""Which beat, district, coverage area and address a point belongs to, within one agency."""

import pytest

from apps.geo.models import AddressPoint, Beat, CoverageArea, District
from apps.geo.selectors import (
    coverage_area_containing,
    locate_beat_and_district,
    nearest_address,
)
from tests.factories import AgencyFactory

pytestmark = pytest.mark.django_db


def box(lon0, lat0, lon1, lat1, hole=None):
    rings = [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]
    if hole:
        rings.append(hole)
    return {"type": "Polygon", "coordinates": rings}


@pytest.fixture
def city():
    agency = AgencyFactory()
    area = CoverageArea.objects.create(agency=agency, name="Area", boundary=box(0, 0, 0.02, 0.02))
    north = District.objects.create(agency=agency, name="North", boundary=box(0, 0.01, 0.02, 0.02))
    south = District.objects.create(agency=agency, name="South", boundary=box(0, 0, 0.02, 0.01))
    # Beat 1 has a hole that beat 3 (a park) fills; beat 2 is a MultiPolygon of two parts.
    hole = [[0.004, 0.004], [0.006, 0.004], [0.006, 0.006], [0.004, 0.006], [0.004, 0.004]]
    b1 = Beat.objects.create(
        agency=agency, district=south, name="Beat 1", boundary=box(0, 0, 0.01, 0.01, hole)
    )
    b2 = Beat.objects.create(
        agency=agency,
        district=north,
        name="Beat 2",
        boundary={
            "type": "MultiPolygon",
            "coordinates": [
                box(0, 0.01, 0.02, 0.02)["coordinates"],
                box(0.01, 0, 0.02, 0.01)["coordinates"],
            ],
        },
    )
    b3 = Beat.objects.create(
        agency=agency,
        district=south,
        name="Beat 3 (park)",
        boundary={"type": "Polygon", "coordinates": [hole]},
    )
    return {"agency": agency, "area": area, "north": north, "south": south, "beats": (b1, b2, b3)}


def test_locate_plain_point(city):
    b1, b2, b3 = city["beats"]
    where = locate_beat_and_district(agency=city["agency"], lat=0.002, lon=0.002)
    assert where.beat == b1
    assert where.district == city["south"]
    assert where.coverage_area == city["area"]


def test_locate_in_a_hole_finds_the_beat_filling_it(city):
    b1, b2, b3 = city["beats"]
    assert locate_beat_and_district(agency=city["agency"], lat=0.005, lon=0.005).beat == b3


def test_locate_in_second_part_of_multipolygon(city):
    b1, b2, b3 = city["beats"]
    where = locate_beat_and_district(agency=city["agency"], lat=0.005, lon=0.015)
    assert where.beat == b2
    # The district comes from the beat, even though the point lies in the South polygon.
    assert where.district == city["north"]


def test_district_from_polygons_when_beat_has_none(city):
    b1, b2, b3 = city["beats"]
    Beat.objects.filter(pk=b1.pk).update(district=None)
    where = locate_beat_and_district(agency=city["agency"], lat=0.002, lon=0.002)
    assert where.beat == b1
    assert where.district == city["south"]


def test_outside_everything(city):
    where = locate_beat_and_district(agency=city["agency"], lat=0.5, lon=0.5)
    assert where.beat is None and where.district is None and where.coverage_area is None


def test_other_agencies_geography_is_ignored(city):
    other = AgencyFactory()
    CoverageArea.objects.create(agency=other, name="Elsewhere", boundary=box(1, 1, 2, 2))
    assert coverage_area_containing(agency=city["agency"], lat=1.5, lon=1.5) is None
    assert coverage_area_containing(agency=other, lat=0.005, lon=0.005) is None
    AddressPoint.objects.create(agency=other, label="Not ours", latitude=0.0051, longitude=0.0051)
    assert nearest_address(agency=city["agency"], lat=0.005, lon=0.005) is None


def test_nearest_address(city):
    agency = city["agency"]
    near = AddressPoint.objects.create(
        agency=agency, label="100 block of W Main St", latitude=0.0050, longitude=0.0052
    )
    AddressPoint.objects.create(
        agency=agency, label="200 block of W Main St", latitude=0.0050, longitude=0.0080
    )
    found = nearest_address(agency=agency, lat=0.0050, lon=0.0050)
    assert found.address == near
    assert found.distance_m == pytest.approx(22.2, abs=0.5)
    assert nearest_address(agency=agency, lat=0.0050, lon=0.0050, max_distance_m=10) is None


def test_nearest_address_beyond_the_first_search_window(city):
    agency = city["agency"]
    # About 5.5 km away: outside the ~500 m window, found by the fallback search.
    far = AddressPoint.objects.create(agency=agency, label="Far", latitude=0.05, longitude=0.0)
    found = nearest_address(agency=agency, lat=0.0, lon=0.0)
    assert found.address == far
    assert found.distance_m == pytest.approx(5560, rel=0.01)


def test_window_hit_farther_than_a_point_outside_the_window_is_not_trusted(city):
    agency = city["agency"]
    # A point in the window's corner (~630 m) versus one just outside its side (~510 m).
    AddressPoint.objects.create(agency=agency, label="Corner", latitude=0.0040, longitude=0.0040)
    closer = AddressPoint.objects.create(
        agency=agency, label="Side", latitude=0.0, longitude=0.0046
    )
    assert nearest_address(agency=agency, lat=0.0, lon=0.0).address == closer
