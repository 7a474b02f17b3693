"""Who gets an alert e-mail: beats, districts, time windows (midnight, DST) and types."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.accounts.models import Application
from apps.alerts.selectors import in_time_window, local_wall_time, publish_recipients
from tests.alerts.support import agency_with_geography, published_incident, siren_user
from tests.factories import UserFactory


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


SUMMER = "2026-06-10T18:00:00"  # 13:00 CDT, a plain afternoon

# (id, subscription, beats, districts, incident beat, first shot UTC, rounds, machine, expected)
MATRIX = [
    # Beats and districts: empty = whole agency; otherwise beat OR district.
    ("all-no-beat", {}, [], [], None, SUMMER, 1, "gunfire", True),
    ("beat-hit", {}, ["11"], [], "11", SUMMER, 1, "gunfire", True),
    ("beat-miss", {}, ["11"], [], "12", SUMMER, 1, "gunfire", False),
    ("beat-no-beat", {}, ["11"], [], None, SUMMER, 1, "gunfire", False),
    ("district-hit", {}, [], ["1"], "12", SUMMER, 1, "gunfire", True),
    ("district-miss", {}, [], ["1"], "21", SUMMER, 1, "gunfire", False),
    ("beat-or-district-1", {}, ["21"], ["1"], "12", SUMMER, 1, "gunfire", True),
    ("beat-or-district-2", {}, ["21"], ["1"], "21", SUMMER, 1, "gunfire", True),
    # Nights 22:00-06:00 in America/Chicago, across midnight.
    (
        "night-2330",
        {"time_windows": [["22:00", "06:00"]]},
        [],
        [],
        "11",
        "2026-06-10T04:30:00",
        1,
        "gunfire",
        True,
    ),
    (
        "night-0530",
        {"time_windows": [["22:00", "06:00"]]},
        [],
        [],
        "11",
        "2026-06-10T10:30:00",
        1,
        "gunfire",
        True,
    ),
    (
        "night-end-exclusive",
        {"time_windows": [["22:00", "06:00"]]},
        [],
        [],
        "11",
        "2026-06-10T11:00:00",
        1,
        "gunfire",
        False,
    ),
    (
        "night-start-inclusive",
        {"time_windows": [["22:00", "06:00"]]},
        [],
        [],
        "11",
        "2026-06-10T03:00:00",
        1,
        "gunfire",
        True,
    ),
    (
        "night-afternoon",
        {"time_windows": [["22:00", "06:00"]]},
        [],
        [],
        "11",
        SUMMER,
        1,
        "gunfire",
        False,
    ),
    # Spring forward 2026-03-08 08:00 UTC (02:00 CST -> 03:00 CDT).
    (
        "dst-spring-0130cst",
        {"time_windows": [["22:00", "06:00"]]},
        [],
        [],
        "11",
        "2026-03-08T07:30:00",
        1,
        "gunfire",
        True,
    ),
    (
        "dst-spring-0530cdt",
        {"time_windows": [["22:00", "06:00"]]},
        [],
        [],
        "11",
        "2026-03-08T10:30:00",
        1,
        "gunfire",
        True,
    ),
    # 11:30 UTC is 06:30 CDT (a fixed CST offset would say 05:30, inside the window).
    (
        "dst-spring-0630cdt",
        {"time_windows": [["22:00", "06:00"]]},
        [],
        [],
        "11",
        "2026-03-08T11:30:00",
        1,
        "gunfire",
        False,
    ),
    # Fall back 2026-11-01 07:00 UTC (02:00 CDT -> 01:00 CST).
    # 11:30 UTC is 05:30 CST (a fixed CDT offset would say 06:30, outside the window).
    (
        "dst-fall-0530cst",
        {"time_windows": [["22:00", "06:00"]]},
        [],
        [],
        "11",
        "2026-11-01T11:30:00",
        1,
        "gunfire",
        True,
    ),
    (
        "dst-fall-0630cst",
        {"time_windows": [["22:00", "06:00"]]},
        [],
        [],
        "11",
        "2026-11-01T12:30:00",
        1,
        "gunfire",
        False,
    ),
    # 01:00-02:00 happens twice that night: both are inside.
    (
        "dst-fall-0130cdt",
        {"time_windows": [["01:00", "02:00"]]},
        [],
        [],
        "11",
        "2026-11-01T06:30:00",
        1,
        "gunfire",
        True,
    ),
    (
        "dst-fall-0130cst",
        {"time_windows": [["01:00", "02:00"]]},
        [],
        [],
        "11",
        "2026-11-01T07:30:00",
        1,
        "gunfire",
        True,
    ),
    (
        "dst-fall-0230cst",
        {"time_windows": [["01:00", "02:00"]]},
        [],
        [],
        "11",
        "2026-11-01T08:30:00",
        1,
        "gunfire",
        False,
    ),
    (
        "two-windows",
        {"time_windows": [["07:00", "09:00"], ["12:00", "14:00"]]},
        [],
        [],
        "11",
        SUMMER,
        1,
        "gunfire",
        True,
    ),
    # Types.
    (
        "type-multiple-hit",
        {"incident_types": ["multiple_gunshots"]},
        [],
        [],
        "11",
        SUMMER,
        5,
        "gunfire",
        True,
    ),
    (
        "type-multiple-miss",
        {"incident_types": ["multiple_gunshots"]},
        [],
        [],
        "11",
        SUMMER,
        1,
        "gunfire",
        False,
    ),
    (
        "type-possible-miss",
        {"incident_types": ["multiple_gunshots"]},
        [],
        [],
        "11",
        SUMMER,
        3,
        "firework",
        False,
    ),
    (
        "type-possible-hit",
        {"incident_types": ["possible_gunfire"]},
        [],
        [],
        "11",
        SUMMER,
        3,
        "firework",
        True,
    ),
    (
        "type-single",
        {"incident_types": ["single_gunshot", "possible_gunfire"]},
        [],
        [],
        "11",
        SUMMER,
        1,
        "gunfire",
        True,
    ),
    # Everything at once, and switched off.
    (
        "combined-hit",
        {"time_windows": [["22:00", "06:00"]], "incident_types": ["multiple_gunshots"]},
        ["12"],
        [],
        "12",
        "2026-06-10T04:30:00",
        4,
        "gunfire",
        True,
    ),
    (
        "combined-wrong-beat",
        {"time_windows": [["22:00", "06:00"]], "incident_types": ["multiple_gunshots"]},
        ["12"],
        [],
        "11",
        "2026-06-10T04:30:00",
        4,
        "gunfire",
        False,
    ),
    ("disabled", {"enabled": False}, [], [], "11", SUMMER, 1, "gunfire", False),
    # A window may end at 24:00, the end of the day (23:30 and 00:30 CDT).
    (
        "to-2400-2330",
        {"time_windows": [["22:00", "24:00"]]},
        [],
        [],
        "11",
        "2026-06-10T04:30:00",
        1,
        "gunfire",
        True,
    ),
    (
        "to-2400-0030",
        {"time_windows": [["22:00", "24:00"]]},
        [],
        [],
        "11",
        "2026-06-10T05:30:00",
        1,
        "gunfire",
        False,
    ),
    (
        "to-2400-2159",
        {"time_windows": [["22:00", "24:00"]]},
        [],
        [],
        "11",
        "2026-06-10T02:59:00",
        1,
        "gunfire",
        False,
    ),
    (
        "all-day-0000-2400",
        {"time_windows": [["00:00", "24:00"]]},
        [],
        [],
        "11",
        "2026-06-10T05:00:00",
        1,
        "gunfire",
        True,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "subscription,beats,districts,beat,at,rounds,machine,expected",
    [case[1:] for case in MATRIX],
    ids=[case[0] for case in MATRIX],
)
def test_filter_matrix(subscription, beats, districts, beat, at, rounds, machine, expected):
    agency, area, district_map, beat_map = agency_with_geography()
    user = siren_user(
        agency=agency,
        email="officer@example.org",
        subscription=subscription,
        beats=[beat_map[b] for b in beats],
        districts=[district_map[d] for d in districts],
    )
    everyone = siren_user(agency=agency, email="watch@example.org")  # no row: every alert
    incident = published_incident(
        area=area,
        beat=beat_map[beat] if beat else None,
        at=utc(at),
        rounds=rounds,
        machine_class=machine,
    )
    recipients = publish_recipients(incident=incident)
    assert (user in recipients) is expected
    assert everyone in recipients


@pytest.mark.django_db
def test_only_active_siren_users_of_the_agency_are_recipients():
    agency, area, _, beats = agency_with_geography()
    other_agency, *_ = agency_with_geography(system_id="418")
    siren = siren_user(agency=agency, email="siren@example.org")
    UserFactory(
        agency=agency, email="console@example.org", applications=[Application.ALERT_CONSOLE]
    )
    inactive = siren_user(agency=agency, email="gone@example.org")
    inactive.is_active = False
    inactive.save()
    siren_user(agency=other_agency, email="elsewhere@example.org")
    incident = published_incident(area=area, beat=beats["11"])
    assert [u.email for u in publish_recipients(incident=incident)] == [siren.email]


@pytest.mark.parametrize(
    "local,start,end,expected",
    [
        ("23:59", "22:00", "06:00", True),
        ("00:00", "22:00", "06:00", True),
        ("06:00", "22:00", "06:00", False),
        ("21:59", "22:00", "06:00", False),
        ("09:00", "09:00", "17:00", True),
        ("17:00", "09:00", "17:00", False),
    ],
)
def test_time_window_edges(local, start, end, expected):
    as_time = dt.time.fromisoformat
    assert in_time_window(local=as_time(local), start=as_time(start), end=as_time(end)) is expected


def test_local_wall_time_follows_daylight_saving():
    # The same UTC clock time one day apart reads one hour apart across the change.
    before = local_wall_time(when=utc("2026-03-07T11:30:00"), time_zone="America/Chicago")
    after = local_wall_time(when=utc("2026-03-08T11:30:00"), time_zone="America/Chicago")
    assert (before, after) == (dt.time(5, 30), dt.time(6, 30))
