"""Briefing Room figures: published incidents of an agency counted over a period.

Every time is bucketed in the agency's time zone (zoneinfo, so daylight-saving days have
23 or 25 hours and no incident lands in the wrong hour). Counting is done in Python over
the period's rows: one query, identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field

from django.apps import apps as django_apps

from apps.accounts.models import Agency
from apps.alerts.models import IncidentType
from apps.alerts.selectors import incident_rounds, incident_type
from apps.geo.models import Beat, District
from apps.incidents.models import Incident, IncidentStatus

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NO_BEAT = "(no beat)"
NO_DISTRICT = "(no district)"
HEAT_CELL_M = 250.0
MAX_HEAT_CELLS = 20_000
# The heat map covers at least this square around its incidents: one incident (or a few
# close together) used to be one cell stretched over the whole canvas.
MIN_HEAT_EXTENT_M = 2000.0
# Fewer incidents than this make no density map: each is drawn as a dot where it was.
FEW_FOR_HEAT_MAP = 5


@dataclass(frozen=True)
class BriefingFilters:
    start: dt.date  # local dates, inclusive
    end: dt.date
    types: tuple[str, ...] = ()
    district_id: int | None = None
    beat_id: int | None = None

    def as_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "types": list(self.types),
            "district_id": self.district_id,
            "beat_id": self.beat_id,
        }


@dataclass
class BriefingRow:
    incident: Incident
    local: dt.datetime
    type_code: str
    rounds: int


@dataclass
class Figures:
    total: int = 0
    by_beat: list[tuple[str, int]] = field(default_factory=list)
    by_district: list[tuple[str, int]] = field(default_factory=list)
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    by_weekday: list[int] = field(default_factory=lambda: [0] * 7)
    by_week: list[tuple[dt.date, int]] = field(default_factory=list)
    by_type: list[tuple[str, int]] = field(default_factory=list)
    heat: dict = field(default_factory=dict)


def period_bounds(*, filters: BriefingFilters, time_zone: str) -> tuple[dt.datetime, dt.datetime]:
    """[local midnight of start, local midnight after end) as aware datetimes."""
    zone = zoneinfo.ZoneInfo(time_zone)
    start = dt.datetime.combine(filters.start, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(filters.end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start, end


def briefing_rows(*, agency: Agency, filters: BriefingFilters) -> list[BriefingRow]:
    start, end = period_bounds(filters=filters, time_zone=agency.time_zone)
    zone = zoneinfo.ZoneInfo(agency.time_zone)
    queryset = Incident.objects.filter(
        agency=agency,
        status=IncidentStatus.PUBLISHED,
        published_at__isnull=False,
        first_shot_at__gte=start,
        first_shot_at__lt=end,
    ).select_related("agency", "beat", "district", "coverage_area")
    if django_apps.is_installed("apps.review"):
        queryset = queryset.select_related("review_decision")
    if filters.district_id:
        queryset = queryset.filter(district_id=filters.district_id)
    if filters.beat_id:
        queryset = queryset.filter(beat_id=filters.beat_id)
    rows = []
    for incident in queryset.order_by("first_shot_at", "pk"):
        type_code = incident_type(incident)
        if filters.types and type_code not in filters.types:
            continue
        rows.append(
            BriefingRow(
                incident=incident,
                local=incident.first_shot_at.astimezone(zone),
                type_code=type_code,
                rounds=incident_rounds(incident),
            )
        )
    return rows


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def briefing_figures(*, agency: Agency, filters: BriefingFilters, rows: list[BriefingRow]):
    figures = Figures(total=len(rows))
    beats = Counter(r.incident.beat.name if r.incident.beat_id else NO_BEAT for r in rows)
    districts = Counter(
        r.incident.district.name if r.incident.district_id else NO_DISTRICT for r in rows
    )
    for name in Beat.objects.filter(agency=agency).values_list("name", flat=True):
        beats.setdefault(name, 0)
    for name in District.objects.filter(agency=agency).values_list("name", flat=True):
        districts.setdefault(name, 0)
    figures.by_beat = sorted(beats.items(), key=lambda item: (-item[1], item[0]))
    figures.by_district = sorted(districts.items(), key=lambda item: (-item[1], item[0]))
    weeks: Counter = Counter()
    types: Counter = Counter()
    for row in rows:
        figures.by_hour[row.local.hour] += 1
        figures.by_weekday[row.local.weekday()] += 1
        weeks[week_start(row.local.date())] += 1
        types[row.type_code] += 1
    week = week_start(filters.start)
    while week <= filters.end:
        figures.by_week.append((week, weeks.get(week, 0)))
        week += dt.timedelta(days=7)
    figures.by_type = [(label, types.get(code, 0)) for code, label in IncidentType.choices]
    figures.heat = heat_grid(points=[(r.incident.latitude, r.incident.longitude) for r in rows])
    return figures


def heat_grid(*, points: list[tuple[float, float]], cell_m: float = HEAT_CELL_M) -> dict:
    """Counts on a lat/lon grid of about ``cell_m`` cells (for the canvas heat map).

    The grid spans at least ``MIN_HEAT_EXTENT_M`` each way, centred on the points.
    ``cell_m`` in the result is the cell size used (cells double on large areas); with
    fewer than ``FEW_FOR_HEAT_MAP`` points, ``points`` lists them for a dot each.
    """
    if not points:
        return {"rows": 0, "cols": 0, "cells": [], "bounds": None, "max": 0, "total": 0}
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    south, north, west, east = min(lats), max(lats), min(lons), max(lons)
    mid = math.radians((south + north) / 2)
    metres_per_deg_lon = 111_320.0 * max(math.cos(mid), 0.01)
    south, north = _at_least(south, north, MIN_HEAT_EXTENT_M / 111_320.0)
    west, east = _at_least(west, east, MIN_HEAT_EXTENT_M / metres_per_deg_lon)
    dlat = cell_m / 111_320.0
    dlon = cell_m / metres_per_deg_lon
    rows, cols = _cells(north - south, dlat), _cells(east - west, dlon)
    while rows * cols > MAX_HEAT_CELLS:
        dlat, dlon, cell_m = dlat * 2, dlon * 2, cell_m * 2
        rows, cols = _cells(north - south, dlat), _cells(east - west, dlon)
    # The whole cells overhang the points: half on each side, so the points stay centred.
    south -= (rows * dlat - (north - south)) / 2
    west -= (cols * dlon - (east - west)) / 2
    counts: Counter = Counter()
    for lat, lon in points:
        counts[(int((lat - south) / dlat), int((lon - west) / dlon))] += 1
    return {
        "rows": rows,
        "cols": cols,
        "cell_deg": [dlat, dlon],
        "cell_m": cell_m,
        "bounds": [south, west, south + rows * dlat, west + cols * dlon],
        "cells": [[r, c, n] for (r, c), n in sorted(counts.items())],
        "max": max(counts.values()),
        "total": len(points),
        "points": [[lat, lon] for lat, lon in points] if len(points) < FEW_FOR_HEAT_MAP else [],
    }


def _cells(span: float, cell: float) -> int:
    """Whole cells that cover ``span`` with some to spare (a 2 km span of 250 m cells: 9)."""
    return int(span / cell + 1e-9) + 1


def _at_least(low: float, high: float, span: float) -> tuple[float, float]:
    """``low``..``high`` widened about its middle to ``span`` when it is narrower."""
    if high - low >= span:
        return low, high
    middle = (low + high) / 2
    return middle - span / 2, middle + span / 2


# --- Exports --------------------------------------------------------------------------------

CSV_COLUMNS = [
    "reference",
    "first_shot_utc",
    "first_shot_local",
    "type",
    "rounds",
    "latitude",
    "longitude",
    "nearest_address",
    "beat",
    "district",
    "coverage_area",
]


def export_record(row: BriefingRow) -> dict:
    incident = row.incident
    return {
        "reference": f"{incident.agency.system_id}-{incident.number}",
        "first_shot_utc": incident.first_shot_at.astimezone(dt.UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "first_shot_local": row.local.isoformat(),
        "type": row.type_code,
        "rounds": row.rounds,
        "latitude": round(incident.latitude, 6),
        "longitude": round(incident.longitude, 6),
        "nearest_address": incident.nearest_address,
        "beat": incident.beat.name if incident.beat_id else "",
        "district": incident.district.name if incident.district_id else "",
        "coverage_area": incident.coverage_area.name,
    }


def csv_safe(value) -> str:
    """Spreadsheet formula injection: text starting with = + - @ (or tab/CR) is quoted."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r" and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def geojson(rows: list[BriefingRow]) -> dict:
    features = []
    for row in rows:
        record = export_record(row)
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [record["longitude"], record["latitude"]],
                },
                "properties": {
                    k: v for k, v in record.items() if k not in ("latitude", "longitude")
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
