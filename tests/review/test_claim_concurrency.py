"""Concurrent claims by real threads against PostgreSQL never double-assign an incident."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from apps.review import services
from apps.review.models import ReviewClaim
from tests.factories import AgencyFactory, UserFactory
from tests.review.support import area_with_beat, make_incident

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(workers: int, job) -> list:
    """Run ``job(i)`` in ``workers`` threads started together; results in order."""
    barrier = threading.Barrier(workers)
    results: list = [None] * workers
    errors: list = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = job(i)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_two_reviewers_claiming_the_next_incident_at_once_get_different_ones():
    assert connection.vendor == "postgresql"
    area = area_with_beat(agency=AgencyFactory())
    reviewers = [UserFactory(irc_reviewer=True) for _ in range(2)]
    for _round in range(10):
        ReviewClaim.objects.all().delete()
        incidents = [make_incident(area=area, rounds=2) for _ in range(2)]
        got = _race(2, lambda i: services.claim_next(reviewer=reviewers[i]))
        assert all(g is not None for g in got)
        assert {g.pk for g in got} == {i.pk for i in incidents}
        for incident in incidents:
            incident.status = "dismissed"
            incident.save(update_fields=["status"])


def test_many_reviewers_racing_for_few_incidents_never_share_one():
    area = area_with_beat(agency=AgencyFactory())
    reviewers = [UserFactory(irc_reviewer=True) for _ in range(8)]
    incidents = [make_incident(area=area) for _ in range(3)]

    got = _race(8, lambda i: services.claim_next(reviewer=reviewers[i]))

    taken = [g.pk for g in got if g is not None]
    assert sorted(taken) == sorted(i.pk for i in incidents)  # each exactly once
    assert got.count(None) == 5
    claims = Counter(ReviewClaim.objects.values_list("incident_id", flat=True))
    assert set(claims.values()) == {1} and len(claims) == 3


def test_reviewers_racing_for_one_given_incident_one_wins_the_others_are_told():
    area = area_with_beat(agency=AgencyFactory())
    reviewers = [UserFactory(irc_reviewer=True) for _ in range(6)]
    incident = make_incident(area=area)

    def job(i):
        try:
            return services.claim(reviewer=reviewers[i], incident_id=incident.pk).reviewer_id
        except services.AlreadyClaimed:
            return "refused"

    got = _race(6, job)

    winners = [g for g in got if g != "refused"]
    assert len(winners) == 1
    assert ReviewClaim.objects.get(incident=incident).reviewer_id == winners[0]
