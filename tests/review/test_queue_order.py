"""Queue priority: what the machine calls gunfire comes first, whatever the round counts say.

The scene is the one a newcomer met in the demo city: four firework incidents with 2-30
"rounds", older than a 4-round incident the classifier gives 99% gunfire, and a single
likely gunshot. The old rule (more than one round first) put the shooting fifth.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.review import selectors, services
from apps.review.models import ReviewClaim
from tests.factories import login_verified
from tests.review.support import make_incident

pytestmark = pytest.mark.django_db


def _probabilities(gunfire: float) -> dict[str, float]:
    rest = 1.0 - gunfire
    return {"gunfire": gunfire, "firework": rest * 0.9, "backfire": rest * 0.1}


@pytest.fixture
def demo_scene(area) -> dict[str, object]:
    """The demo's queue: (rounds, P(gunfire), seconds since detection) as in the report."""
    now = timezone.now()
    rows = {
        "fireworks_3": (3, 0.34, 240),
        "fireworks_14": (14, 0.11, 228),
        "fireworks_30": (30, 0.01, 205),
        "single_gunshot": (1, 0.97, 102),
        "fireworks_2": (2, 0.0, 47),
        "shooting_4": (4, 0.99, 5),
    }
    return {
        name: make_incident(
            area=area,
            rounds=rounds,
            probabilities=_probabilities(gunfire),
            detected_at=now - dt.timedelta(seconds=age_s),
        )
        for name, (rounds, gunfire, age_s) in rows.items()
    }


def test_likely_gunfire_leads_the_queue_multiple_rounds_first_then_oldest(demo_scene):
    order = [item.incident.pk for item in selectors.review_queue()]
    expected = [
        "shooting_4",  # several likely gunshots: the most urgent, though the newest
        "single_gunshot",
        # Then the rest, oldest first, whatever their round counts.
        "fireworks_3",
        "fireworks_14",
        "fireworks_30",
        "fireworks_2",
    ]
    assert order == [demo_scene[name].pk for name in expected]
    tiers = [item.tier for item in selectors.review_queue()]
    assert tiers == [
        selectors.TIER_MULTIPLE_GUNFIRE,
        selectors.TIER_SINGLE_GUNFIRE,
        *[selectors.TIER_OTHER] * 4,
    ]


def test_claim_next_takes_the_likely_shooting_not_the_oldest_fireworks(demo_scene, reviewer):
    claimed = services.claim_next(reviewer=reviewer)
    assert claimed is not None
    assert ReviewClaim.objects.get(reviewer=reviewer).incident_id == demo_scene["shooting_4"].pk


def test_likely_gunfire_is_the_classifiers_call_not_a_fixed_probability(area):
    """Whatever the model's decision threshold: the queue follows ``machine_class``."""
    below_threshold = make_incident(area=area, rounds=5, probabilities=_probabilities(0.6))
    below_threshold.machine_class = "firework"  # e.g. a model whose threshold is 0.75
    below_threshold.save(update_fields=["machine_class"])
    single = make_incident(area=area, rounds=1, probabilities=_probabilities(0.8))
    assert selectors.queue_tier(below_threshold) == selectors.TIER_OTHER
    assert selectors.queue_tier(single) == selectors.TIER_SINGLE_GUNFIRE
    assert [i.incident.pk for i in selectors.review_queue()] == [single.pk, below_threshold.pk]


def test_the_rounds_badge_is_red_only_for_likely_gunfire(demo_scene, reviewer):
    client = Client()
    login_verified(client, reviewer)
    rows = client.get(reverse("review:queue_rows")).content.decode()
    badges = {
        int(pk): badge
        for pk, badge in re.findall(
            r'data-incident="(\d+)".*?<span class="(tag[^"]*)"', rows, flags=re.S
        )
    }
    for name, incident in demo_scene.items():
        red = "multi" in badges[incident.pk].split()
        assert red == (incident.machine_class == "gunfire"), (name, badges[incident.pk])
    assert "4 rounds · gunfire" in rows and "1 round · gunfire" in rows
    assert "30 rounds · firework" in rows
    assert re.findall(r'data-tier="(\d)"', rows) == ["0", "1", "2", "2", "2", "2"]
