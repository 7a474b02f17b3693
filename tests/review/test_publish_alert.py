"""A published incident always has its alert, whatever fails after the publish commits.

Seen under `make run` (embedded SQLite, tasks in-process): a Publish was saved, then the
request failed ("database is locked") and the reviewer got "may not have been saved",
while the alert, made after the commit in a transaction of its own, never existed. Here
the decision goes through the real page, services, signals and alert services, in real
transactions; only the failure after the commit is staged, by a middleware that raises
on the way out the way the session save did.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from apps.alerts.models import AlertMessage, DeliveryStatus, MessageKind, Notification
from apps.core.problems import PROBLEM_CONTENT_TYPE
from apps.incidents.models import IncidentStatus
from apps.review import services
from apps.review.models import HistoryKind, IncidentHistory
from tests.alerts.support import siren_user
from tests.factories import login_verified
from tests.review.browser_support import make_incident

# Real commits: the alert must exist because the publish committed, not because the
# test's own transaction made everything visible.
pytestmark = pytest.mark.django_db(transaction=True)

FAILS_AFTER_THE_VIEW = "tests.review.test_publish_alert.FailsOnTheWayOut"


class FailsOnTheWayOut:
    """Raises the SQLite lock error after the view returned (as the session save did)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        self.get_response(request)
        raise OperationalError("database is locked")


@pytest.fixture
def failing_after_the_view(settings):
    # Innermost but one: the view has run and committed when this raises.
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, FAILS_AFTER_THE_VIEW]


def _publish(*, reviewer, incident, **headers) -> Client:
    client = Client(raise_request_exception=False)
    login_verified(client, reviewer)
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    return client.post(
        reverse("review:decide", args=[incident.pk]),
        {"decision": "single_gunshot", "rounds": "1"},
        **headers,
    )


def test_a_publish_that_commits_keeps_its_alert_when_the_request_fails_afterwards(
    failing_after_the_view, agency, area, reviewer
):
    officer = siren_user(agency=agency, email="officer@example.org")
    incident = make_incident(agency=agency, area=area, rounds=1, clips=0)

    response = _publish(reviewer=reviewer, incident=incident)

    assert response.status_code == 503
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PUBLISHED and incident.published_at is not None
    (message,) = AlertMessage.objects.filter(incident=incident)
    assert message.kind == MessageKind.PUBLISH and message.emails_created_at is not None
    (notification,) = Notification.objects.filter(alert=message)
    assert notification.destination.user == officer
    assert notification.status == DeliveryStatus.SENT
    assert [m.to for m in mail.outbox] == [["officer@example.org"]]
    # The reviewer is told the truth: saved, do not send it again.
    body = response.content.decode()
    assert f"Incident {incident.reference}: Single gunshot, published: saved" in body
    assert "may not have been saved" not in body


def test_a_publish_without_a_failure_has_exactly_one_alert(agency, area, reviewer):
    siren_user(agency=agency, email="officer@example.org")
    incident = make_incident(agency=agency, area=area, rounds=1, clips=0)

    response = _publish(reviewer=reviewer, incident=incident)

    assert response.status_code == 302
    assert AlertMessage.objects.filter(incident=incident, kind=MessageKind.PUBLISH).count() == 1
    assert [m.to for m in mail.outbox] == [["officer@example.org"]]


def test_an_alert_that_cannot_be_made_leaves_the_incident_unpublished(
    agency, area, reviewer, monkeypatch
):
    """Both ways: the publish and its alert commit together or not at all.

    The loss seen under `make run`: the alert was made after the publish committed, in a
    transaction of its own that met "database is locked"; the incident stayed published
    with no alert. Now that failure undoes the publish and the reviewer may send it again.
    """
    from apps.alerts import selectors as alert_selectors

    incident = make_incident(agency=agency, area=area, rounds=1, clips=0)

    def broken(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(alert_selectors, "incident_facts", broken)
    response = _publish(reviewer=reviewer, incident=incident)

    assert response.status_code == 503
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PENDING_REVIEW and incident.published_at is None
    assert not AlertMessage.objects.exists()
    body = response.content.decode()
    assert "may not have been saved" in body and ": saved" not in body


def test_an_api_client_is_told_the_publish_was_saved(
    failing_after_the_view, agency, area, reviewer
):
    """The problem+json 503 says what the HTML 503 page says: saved, do not send again."""
    incident = make_incident(agency=agency, area=area, rounds=1, clips=0)

    response = _publish(reviewer=reviewer, incident=incident, HTTP_ACCEPT="application/json")

    assert response.status_code == 503
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    assert problem["saved"] is True
    assert problem["detail"].startswith(
        f"Incident {incident.reference}: Single gunshot, published: saved."
    )
    assert "do not send it again" in problem["detail"]
    assert "may not have been stored" not in problem["detail"]
    assert AlertMessage.objects.filter(incident=incident, kind=MessageKind.PUBLISH).count() == 1


def test_an_api_client_whose_publish_failed_is_asked_to_resend(agency, area, reviewer, monkeypatch):
    from apps.alerts import selectors as alert_selectors

    incident = make_incident(agency=agency, area=area, rounds=1, clips=0)

    def broken(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(alert_selectors, "incident_facts", broken)
    response = _publish(reviewer=reviewer, incident=incident, HTTP_ACCEPT="application/json")

    assert response.status_code == 503
    problem = response.json()
    assert "saved" not in problem
    assert "may not have been stored" in problem["detail"]


def _published(*, reviewer, incident) -> Client:
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    services.decide(reviewer=reviewer, incident_id=incident.pk, decision="single_gunshot", rounds=1)
    client = Client(raise_request_exception=False)
    login_verified(client, reviewer)
    return client


WRITES_AFTER_PUBLISHING = {
    "comment": (
        "review:comment",
        {"text": "Casings found at the corner."},
        "Comment on incident {ref}",
        HistoryKind.COMMENT,
    ),
    "reclassify": (
        "review:reclassify",
        {"decision": "multiple_gunshots", "rounds": "3", "reason": "Three rounds on audio."},
        "Incident {ref} reclassified",
        HistoryKind.RECLASSIFICATION,
    ),
}


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
@pytest.mark.parametrize(
    ("name", "data", "saved", "kind"),
    WRITES_AFTER_PUBLISHING.values(),
    ids=WRITES_AFTER_PUBLISHING.keys(),
)
def test_every_review_write_that_committed_says_saved(
    failing_after_the_view, agency, area, reviewer, accept, name, data, saved, kind
):
    incident = make_incident(agency=agency, area=area, rounds=1, clips=0)
    client = _published(reviewer=reviewer, incident=incident)

    response = client.post(reverse(name, args=[incident.pk]), data, HTTP_ACCEPT=accept)

    assert response.status_code == 503
    assert IncidentHistory.objects.filter(incident=incident, kind=kind).count() == 1
    said = saved.format(ref=incident.reference) + ": saved"
    if accept == "application/json":
        problem = response.json()
        assert problem["saved"] is True and problem["detail"].startswith(said)
    else:
        body = response.content.decode()
        assert said in body and "may not have been saved" not in body


@pytest.mark.parametrize("what", ["promote", "surge"])
def test_promote_and_surge_that_committed_say_saved(
    failing_after_the_view, agency, area, reviewer, what
):
    client = Client(raise_request_exception=False)
    login_verified(client, reviewer)
    if what == "promote":
        incident = make_incident(agency=agency, area=area, clips=0, status=IncidentStatus.FILTERED)
        url = reverse("review:promote", args=[incident.pk])
        data = {"reason": "Sounds like gunfire to me."}
        said = f"Incident {incident.reference} promoted to review: saved"
    else:
        url = reverse("review:surge", args=[area.pk])
        data = {"on": "1", "confirm": "yes"}
        said = f"Surge mode on in {area.name}: saved"

    response = client.post(url, data, HTTP_ACCEPT="application/json")

    assert response.status_code == 503
    problem = response.json()
    assert problem["saved"] is True and problem["detail"].startswith(said)
