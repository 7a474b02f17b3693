"""Briefing Room figures against counts computed here from the raw rows, exports, access."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import zoneinfo
from collections import Counter

import pytest

from apps.accounts.models import Application
from apps.audit.models import AuditEvent
from apps.briefing import selectors
from apps.incidents.models import Incident, IncidentStatus
from tests.alerts.support import agency_with_geography, published_incident
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
START, END = dt.date(2026, 2, 23), dt.date(2026, 3, 22)  # spans the 2026-03-08 DST change


@pytest.fixture
def scene():
    agency, area, districts, beats = agency_with_geography()
    rng = random.Random(7)
    beat_choices = [beats["11"], beats["12"], beats["21"], None]
    span = (
        dt.datetime(2026, 3, 25, tzinfo=dt.UTC) - dt.datetime(2026, 2, 20, tzinfo=dt.UTC)
    ).total_seconds()
    for _ in range(90):
        at = dt.datetime(2026, 2, 20, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.uniform(0, span))
        incident = published_incident(
            area=area,
            beat=rng.choice(beat_choices),
            at=at,
            rounds=rng.choice([1, 1, 2, 5]),
            machine_class=rng.choice(["gunfire", "gunfire", "gunfire", "firework"]),
            lat=41.80 + rng.uniform(0, 0.05),
            lon=-87.70 + rng.uniform(0, 0.05),
        )
        roll = rng.random()
        if roll < 0.1:
            incident.status = IncidentStatus.DISMISSED  # cancelled alerts are not counted
            incident.save()
        elif roll < 0.2:
            incident.status = IncidentStatus.PENDING_REVIEW
            incident.published_at = None
            incident.save()
    # Right at the edges of the period (local midnight) and in another agency.
    published_incident(
        area=area, beat=beats["11"], at=dt.datetime(2026, 2, 23, 6, 0, tzinfo=dt.UTC)
    )
    published_incident(
        area=area, beat=beats["11"], at=dt.datetime(2026, 2, 23, 5, 59, tzinfo=dt.UTC)
    )
    published_incident(
        area=area, beat=beats["11"], at=dt.datetime(2026, 3, 23, 4, 59, tzinfo=dt.UTC)
    )
    published_incident(
        area=area, beat=beats["11"], at=dt.datetime(2026, 3, 23, 5, 0, tzinfo=dt.UTC)
    )
    other, other_area, _, other_beats = agency_with_geography(system_id="418")
    for k in range(5):
        published_incident(
            area=other_area,
            beat=other_beats["11"],
            at=dt.datetime(2026, 3, 1 + k, 12, tzinfo=dt.UTC),
        )
    analyst = UserFactory(agency=agency, applications=[Application.BRIEFING_ROOM])
    return agency, analyst


def expected_rows(agency, types=None):
    """Independently: the agency's published incidents whose local date is in the period."""
    rows = []
    for incident in Incident.objects.filter(agency=agency):
        if incident.status != IncidentStatus.PUBLISHED or incident.published_at is None:
            continue
        local = incident.first_shot_at.astimezone(CHICAGO)
        if not (START <= local.date() <= END):
            continue
        if incident.machine_class != "gunfire":
            kind = "possible_gunfire"
        else:
            kind = "multiple_gunshots" if incident.rounds > 1 else "single_gunshot"
        if types and kind not in types:
            continue
        rows.append((incident, local, kind))
    return rows


def query(**extra):
    params = {"start": START.isoformat(), "end": END.isoformat()}
    params.update(extra)
    return params


def test_figures_equal_counts_computed_from_the_raw_rows(client, scene):
    agency, analyst = scene
    client.force_login(analyst)
    reply = client.get("/briefing-room/", query())
    assert reply.status_code == 200
    figures = reply.context["figures"]
    rows = expected_rows(agency)
    assert figures.total == len(rows) > 40

    beats = Counter(i.beat.name if i.beat else "(no beat)" for i, _, _ in rows)
    assert {k: v for k, v in figures.by_beat if v} == dict(beats)
    districts = Counter(i.district.name if i.district else "(no district)" for i, _, _ in rows)
    assert {k: v for k, v in figures.by_district if v} == dict(districts)
    hours = Counter(local.hour for _, local, _ in rows)
    assert figures.by_hour == [hours.get(h, 0) for h in range(24)]
    weekdays = Counter(local.strftime("%A") for _, local, _ in rows)
    names = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    assert figures.by_weekday == [weekdays.get(n, 0) for n in names]
    weeks = Counter(
        (local.date() - dt.timedelta(days=local.weekday())).isoformat() for _, local, _ in rows
    )
    assert {w.isoformat(): n for w, n in figures.by_week if n} == dict(weeks)
    assert [w.isoformat() for w, _ in figures.by_week] == [
        "2026-02-23",
        "2026-03-02",
        "2026-03-09",
        "2026-03-16",
    ]
    kinds = Counter(kind for _, _, kind in rows)
    assert dict(figures.by_type) == {
        "Single gunshot": kinds["single_gunshot"],
        "Multiple gunshots": kinds["multiple_gunshots"],
        "Possible gunfire": kinds["possible_gunfire"],
    }
    heat = reply.context["heat"]
    assert sum(cell[2] for cell in heat["cells"]) == len(rows)
    page = reply.content.decode()
    assert f'<span data-figure="total">{len(rows)}</span>' in page
    assert 'id="heat-data"' in page and "js/briefing/heatmap.js" in page
    assert "<script>" not in page  # CSP: no inline script


def test_the_type_filter(client, scene):
    agency, analyst = scene
    client.force_login(analyst)
    reply = client.get("/briefing-room/", query(types=["multiple_gunshots", "possible_gunfire"]))
    rows = expected_rows(agency, types={"multiple_gunshots", "possible_gunfire"})
    assert reply.context["figures"].total == len(rows)
    assert 0 < len(rows) < len(expected_rows(agency))


def test_the_place_filters_say_all_districts_and_all_beats(client, scene):
    """Their empty choice read "---------" (Django's default), unlike the Investigator
    Portal's "Any district" filters."""
    agency, analyst = scene
    client.force_login(analyst)
    page = client.get("/briefing-room/").content.decode()
    assert '<option value="" selected>All districts</option>' in page
    assert '<option value="" selected>All beats</option>' in page
    assert "---------" not in page


def test_exports_are_audited_with_their_filters(client, scene):
    agency, analyst = scene
    client.force_login(analyst)
    reply = client.get("/briefing-room/export.csv", query(types=["single_gunshot"]))
    assert reply.status_code == 200 and reply["Content-Type"].startswith("text/csv")
    assert reply["Cache-Control"] == "no-store"
    records = list(csv.DictReader(io.StringIO(reply.content.decode())))
    rows = expected_rows(agency, types={"single_gunshot"})
    assert sorted(r["reference"] for r in records) == sorted(f"417-{i.number}" for i, _, _ in rows)
    assert {r["type"] for r in records} == {"single_gunshot"}
    event = AuditEvent.objects.get(action="export.csv")
    assert event.actor == analyst and event.agency == agency
    assert event.details["filters"]["types"] == ["single_gunshot"]
    assert event.details["filters"]["start"] == START.isoformat()
    assert event.details["rows"] == len(rows)

    reply = client.get("/briefing-room/export.geojson", query())
    collection = json.loads(reply.content)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(expected_rows(agency))
    feature = collection["features"][0]
    assert feature["geometry"]["type"] == "Point" and len(feature["geometry"]["coordinates"]) == 2
    event = AuditEvent.objects.get(action="export.geojson")
    assert event.details["rows"] == len(expected_rows(agency))


def test_csv_cells_cannot_become_formulas(client, scene):
    agency, analyst = scene
    incident = Incident.objects.filter(agency=agency, status=IncidentStatus.PUBLISHED).first()
    incident.nearest_address = '=HYPERLINK("http://evil.example","x")'
    incident.first_shot_at = dt.datetime(2026, 3, 10, 18, tzinfo=dt.UTC)
    incident.save()
    client.force_login(analyst)
    text = client.get("/briefing-room/export.csv", query()).content.decode()
    assert "'=HYPERLINK" in text


def test_bad_filters_are_refused_and_nothing_is_exported(client, scene):
    agency, analyst = scene
    client.force_login(analyst)
    bad = {"start": "2026-03-10", "end": "2026-03-01"}
    assert client.get("/briefing-room/", bad).status_code == 400
    assert client.get("/briefing-room/export.csv", bad).status_code == 400
    assert client.get("/briefing-room/export.geojson", {"start": "soon"}).status_code == 400
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


@pytest.mark.parametrize("export", ["export.csv", "export.geojson"])
def test_bad_export_filters_are_a_problem_naming_each_parameter(client, scene, export):
    """The exports answered "Invalid filters: ..." as text/plain (CSV) and an ad-hoc
    ``{"errors": ...}`` as application/json (GeoJSON); both are RFC 7807 problems now."""
    agency, analyst = scene
    client.force_login(analyst)

    reply = client.get(f"/briefing-room/{export}", {"start": "soon", "types": "fireworks"})

    assert reply.status_code == 400
    assert reply["Content-Type"] == "application/problem+json"
    problem = reply.json()
    assert (problem["type"], problem["title"], problem["status"]) == (
        "about:blank",
        "Invalid filters",
        400,
    )
    assert set(problem["errors"]) == {"start", "types"}
    assert problem["errors"]["start"] == ["Enter a valid date."]
    assert "start: Enter a valid date." in problem["detail"] and "types: " in problem["detail"]

    backwards = client.get(f"/briefing-room/{export}", {"start": "2026-03-10", "end": "2026-03-01"})
    assert backwards["Content-Type"] == "application/problem+json"
    assert backwards.json()["errors"] == {
        "non_field_errors": ["The period must start on or before its end."]
    }
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


@pytest.mark.parametrize(
    "dates",
    [{"end": "9999-12-31"}, {"start": "9999-12-30", "end": "9999-12-31"}, {"start": "0001-01-01"}],
)
def test_dates_no_period_can_be_built_from_are_a_400_not_a_500(client, scene, dates):
    """9999-12-31 has no next day: the period's end was an OverflowError (500)."""
    agency, analyst = scene
    client.force_login(analyst)
    for url in ("/briefing-room/", "/briefing-room/export.csv", "/briefing-room/export.geojson"):
        reply = client.get(url, dates)
        assert reply.status_code == 400
        assert "Choose a date from 1900-01-01 to 9998-12-31." in reply.content.decode()
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


def test_the_briefing_room_needs_its_own_grant(client, scene):
    agency, analyst = scene
    assert client.get("/briefing-room/").status_code == 302
    client.force_login(UserFactory(agency=agency, applications=[Application.INVESTIGATOR_PORTAL]))
    for url in ("/briefing-room/", "/briefing-room/export.csv", "/briefing-room/export.geojson"):
        reply = client.get(url)
        assert reply.status_code == 403 and b"Briefing Room" in reply.content
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()
    client.force_login(UserFactory(irc_reviewer=True))
    # review-center staff do not use the agency applications (two-factor first, then 403)
    assert client.get("/briefing-room/").status_code in (302, 403)


def test_without_filters_the_last_28_local_days_are_shown(client, scene):
    agency, analyst = scene
    client.force_login(analyst)
    reply = client.get("/briefing-room/")
    assert reply.status_code == 200
    filters = reply.context["filters"]
    assert (filters.end - filters.start).days == 27
    assert "Export CSV" in reply.content.decode()


def test_one_incident_is_a_point_on_a_2_km_grid_not_a_one_cell_map():
    heat = selectors.heat_grid(points=[(41.80, -87.70)])
    assert heat["rows"] >= 8 and heat["cols"] >= 8  # was 1 x 1: one cell over the canvas
    (cell,) = heat["cells"]
    assert cell == [heat["rows"] // 2, heat["cols"] // 2, 1]
    south, west, north, east = heat["bounds"]
    assert south < 41.80 < north and west < -87.70 < east
    assert abs((south + north) / 2 - 41.80) < 1e-9 and abs((west + east) / 2 + 87.70) < 1e-9
    assert heat["cell_m"] == selectors.HEAT_CELL_M
    assert heat["points"] == [[41.80, -87.70]] and heat["total"] == 1


def test_many_incidents_make_a_density_grid_without_points():
    points = [(41.80 + 0.001 * k, -87.70 + 0.002 * (k % 7)) for k in range(40)]
    heat = selectors.heat_grid(points=points)
    assert heat["points"] == [] and heat["total"] == 40
    assert sum(n for _, _, n in heat["cells"]) == 40
    assert all(0 <= r < heat["rows"] and 0 <= c < heat["cols"] for r, c, _ in heat["cells"])
