"""Reads on an agency's geography: which beat, district, coverage area and address."""

from __future__ import annotations

import math
from dataclasses import dataclass

from apps.accounts.models import Agency
from apps.geo.models import AddressPoint, Beat, CoverageArea, District
from apps.geo.polygons import geometry_contains, nearest_point

# Half-width of the first search window for the nearest address (about 500 m).
_ADDRESS_WINDOW_DEG = 0.0045


@dataclass(frozen=True)
class Location:
    beat: Beat | None
    district: District | None
    coverage_area: CoverageArea | None


@dataclass(frozen=True)
class NearestAddress:
    address: AddressPoint
    distance_m: float


def coverage_area_containing(*, agency: Agency, lat: float, lon: float) -> CoverageArea | None:
    for area in CoverageArea.objects.filter(agency=agency).order_by("name", "pk"):
        if geometry_contains(geometry=area.boundary, lon=lon, lat=lat):
            return area
    return None


def beat_containing(*, agency: Agency, lat: float, lon: float) -> Beat | None:
    beats = Beat.objects.filter(agency=agency).select_related("district").order_by("name", "pk")
    for beat in beats:
        if geometry_contains(geometry=beat.boundary, lon=lon, lat=lat):
            return beat
    return None


def district_containing(*, agency: Agency, lat: float, lon: float) -> District | None:
    for district in District.objects.filter(agency=agency).order_by("name", "pk"):
        if geometry_contains(geometry=district.boundary, lon=lon, lat=lat):
            return district
    return None


def locate_beat_and_district(*, agency: Agency, lat: float, lon: float) -> Location:
    """The beat, district and coverage area of a point; any of them may be None.

    The district comes from the beat when the beat names one, otherwise from the
    district polygons, so a point on a beat always reports that beat's district.
    """
    beat = beat_containing(agency=agency, lat=lat, lon=lon)
    district = beat.district if beat is not None and beat.district_id else None
    if district is None:
        district = district_containing(agency=agency, lat=lat, lon=lon)
    return Location(
        beat=beat,
        district=district,
        coverage_area=coverage_area_containing(agency=agency, lat=lat, lon=lon),
    )


def nearest_address(
    *, agency: Agency, lat: float, lon: float, max_distance_m: float | None = None
) -> NearestAddress | None:
    """The agency's address point closest to the point (None if none or too far).

    Looks in a small window first; a hit closer than the window's inscribed radius is
    certainly the nearest, otherwise it falls back to all of the agency's points.
    """
    window = _ADDRESS_WINDOW_DEG
    nearby = AddressPoint.objects.filter(
        agency=agency,
        latitude__range=(lat - window, lat + window),
        longitude__range=(lon - window, lon + window),
    )
    found = nearest_point(lat=lat, lon=lon, candidates=_candidates(nearby))
    inscribed_m = window * 111_000 * min(1.0, math.cos(math.radians(lat)))
    if found is None or found[1] > inscribed_m:
        found = nearest_point(
            lat=lat, lon=lon, candidates=_candidates(AddressPoint.objects.filter(agency=agency))
        )
    if found is None:
        return None
    address, distance = found
    if max_distance_m is not None and distance > max_distance_m:
        return None
    return NearestAddress(address=address, distance_m=distance)


def _candidates(queryset):
    for point in queryset.order_by("pk").iterator():
        yield point.latitude, point.longitude, point
