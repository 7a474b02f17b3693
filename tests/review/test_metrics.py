"""Review metrics equal figures computed independently from the same decisions."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from apps.incidents.models import IncidentStatus
from apps.review import selectors
from apps.review.metrics import metrics_summary
from apps.review.models import ReviewDecision
from tests.factories import UserFactory
from tests.review.support import make_incident

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 7, 4, 23, 30, tzinfo=dt.UTC)
# What a decision maps to in the classifier's classes (independent of the app's table).
HUMAN = {
    ("single_gunshot", ""): "gunfire",
    ("multiple_gunshots", ""): "gunfire",
    ("possible_gunfire", ""): "gunfire",
    ("not_gunfire", "firework"): "firework",
    ("not_gunfire", "firecracker"): "firework",
    ("not_gunfire", "backfire"): "backfire",
    ("not_gunfire", "construction"): "construction",
    ("not_gunfire", "other"): "other",
}


def _decisions(area, reviewer, n=60, seed=7):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        decided_at = NOW - dt.timedelta(seconds=rng.uniform(0, 30 * 3600))  # some too old
        seconds = rng.choice([rng.uniform(5, 60), rng.uniform(60, 400)])
        machine = rng.choice(["gunfire", "firework", "backfire", "construction"])
        decision, reason = rng.choice(list(HUMAN))
        incident = make_incident(
            area=area,
            status=IncidentStatus.PUBLISHED if reason == "" else IncidentStatus.DISMISSED,
            probabilities={machine: 0.9, "other": 0.1},
            detected_at=decided_at - dt.timedelta(seconds=seconds),
        )
        ReviewDecision.objects.create(
            incident=incident,
            decision=decision,
            not_gunfire_reason=reason,
            rounds=2 if decision == "multiple_gunshots" else 1,
            initial_decision=decision,
            initial_not_gunfire_reason=reason,
            decided_at=decided_at,
            decided_by=reviewer,
            detected_at=incident.detected_at,
            seconds_to_decision=seconds,
            machine_class=machine,
        )
        rows.append((decided_at, seconds, machine, HUMAN[(decision, reason)]))
    return rows


def test_metrics_equal_an_independent_computation(area, settings):
    settings.REVIEW_TARGET_SECONDS = 60
    rows = _decisions(area, UserFactory(irc_reviewer=True))
    waiting = [make_incident(area=area) for _ in range(4)]
    make_incident(area=area, status=IncidentStatus.FILTERED)

    metrics = selectors.review_metrics(hours=24, now=NOW)

    recent = [r for r in rows if NOW - dt.timedelta(hours=24) < r[0] <= NOW]
    seconds = np.array([r[1] for r in recent])
    assert metrics.decisions == len(recent)
    assert metrics.decisions_per_hour == pytest.approx(len(recent) / 24)
    assert metrics.median_seconds == pytest.approx(float(np.median(seconds)))
    assert metrics.p90_seconds == pytest.approx(
        float(np.percentile(seconds, 90, method="inverted_cdf"))
    )
    assert metrics.share_within_target == pytest.approx(float(np.mean(seconds <= 60)))
    assert sum(n for _, n in metrics.hourly) == len(recent)
    for hour, n in metrics.hourly:
        assert n == sum(1 for r in recent if hour <= r[0] < hour + dt.timedelta(hours=1))
    for machine in ("gunfire", "firework", "backfire", "construction"):
        mine = [r for r in recent if r[2] == machine]
        expected = sum(1 for r in mine if r[3] != machine) / len(mine)
        assert metrics.override_by_class[machine]["decided"] == len(mine)
        assert metrics.override_by_class[machine]["rate"] == pytest.approx(expected)
    assert metrics.queue_length == len(waiting)

    summary = metrics_summary(hours=24, now=NOW)
    assert summary["decisions"] == len(recent) and summary["queue_length"] == 4


def test_metrics_without_decisions_say_so(area):
    metrics = selectors.review_metrics(hours=1, now=NOW)
    assert metrics.decisions == 0
    assert metrics.median_seconds is None and metrics.p90_seconds is None
    assert metrics.share_within_target is None and metrics.override_by_class == {}
