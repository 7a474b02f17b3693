"""Review services: claims, decisions, publishing, history, promotion, surge."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction

from apps.audit.models import AuditEvent
from apps.incidents.models import AUDIO_POST_S, AUDIO_PRE_S, AudioRequest, IncidentStatus
from apps.realtime.models import Audience, RealtimeEvent
from apps.review import selectors, services
from apps.review.models import (
    HistoryImmutableError,
    HistoryKind,
    IncidentHistory,
    ReviewClaim,
    ReviewDecision,
)
from tests.factories import AgencyFactory, UserFactory
from tests.review.support import add_shot, make_incident, make_sensors

pytestmark = pytest.mark.django_db


def _agency_events(agency):
    return list(RealtimeEvent.objects.filter(audience=Audience.AGENCY, agency=agency))


def _review_kinds():
    return list(
        RealtimeEvent.objects.filter(audience=Audience.REVIEW).values_list("kind", flat=True)
    )


def _publish(reviewer, incident, **kwargs):
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    options = {"decision": "multiple_gunshots", "rounds": 3, "flags": []} | kwargs
    return services.decide(reviewer=reviewer, incident_id=incident.pk, **options)


# --- Queue and claims ------------------------------------------------------------------------


def test_queue_puts_multiple_gunshots_first_then_oldest(area):
    now = dt.datetime.now(dt.UTC)
    old_single = make_incident(area=area, rounds=1, detected_at=now - dt.timedelta(seconds=90))
    new_single = make_incident(area=area, rounds=1, detected_at=now - dt.timedelta(seconds=5))
    new_multi = make_incident(area=area, rounds=4, detected_at=now - dt.timedelta(seconds=2))
    old_multi = make_incident(area=area, rounds=2, detected_at=now - dt.timedelta(seconds=30))
    make_incident(area=area, status=IncidentStatus.FILTERED)

    items = selectors.review_queue(now=now)

    assert [i.incident.pk for i in items] == [
        old_multi.pk,
        new_multi.pk,
        old_single.pk,
        new_single.pk,
    ]
    assert [round(i.seconds_since_detection) for i in items] == [30, 2, 90, 5]
    assert [i.overdue for i in items] == [False, False, True, False]


def test_claim_next_takes_the_head_and_shows_who_holds_it(area, reviewer, other_reviewer):
    first = make_incident(area=area, rounds=3)
    second = make_incident(area=area, rounds=1)

    assert services.claim_next(reviewer=reviewer).pk == first.pk
    assert services.claim_next(reviewer=other_reviewer).pk == second.pk
    assert services.claim_next(reviewer=UserFactory(irc_reviewer=True)) is None

    held = {i.incident.pk: i.claimed_by for i in selectors.review_queue()}
    assert held == {first.pk: reviewer, second.pk: other_reviewer}
    assert _review_kinds().count("review.claimed") == 2


def test_a_reviewer_holds_one_incident_at_a_time(area, reviewer):
    first, second = make_incident(area=area), make_incident(area=area)
    services.claim(reviewer=reviewer, incident_id=first.pk)
    services.claim(reviewer=reviewer, incident_id=second.pk)

    assert list(ReviewClaim.objects.values_list("incident_id", flat=True)) == [second.pk]
    assert "review.released" in _review_kinds()


def test_claiming_an_incident_someone_holds_is_refused(area, reviewer, other_reviewer):
    incident = make_incident(area=area)
    services.claim(reviewer=reviewer, incident_id=incident.pk)

    with pytest.raises(services.AlreadyClaimed) as error:
        services.claim(reviewer=other_reviewer, incident_id=incident.pk)
    assert error.value.status == 409 and "Rita Reviewer" in error.value.detail
    assert ReviewClaim.objects.get().reviewer == reviewer


def test_police_users_cannot_claim_or_decide(area, agency):
    incident = make_incident(area=area)
    officer = UserFactory(agency=agency)
    with pytest.raises(services.NotReviewStaff):
        services.claim_next(reviewer=officer)
    with pytest.raises(services.NotReviewStaff):
        services.decide(
            reviewer=officer, incident_id=incident.pk, decision="single_gunshot", rounds=1
        )
    assert not ReviewClaim.objects.exists() and not ReviewDecision.objects.exists()


def test_idle_claims_are_released_after_the_configured_time(area, reviewer, settings):
    settings.REVIEW_CLAIM_IDLE_SECONDS = 120
    incident = make_incident(area=area)
    held = services.claim(reviewer=reviewer, incident_id=incident.pk)
    claimed = held.last_activity_at

    assert services.release_idle_claims(now=claimed + dt.timedelta(seconds=119)) == 0
    # Activity keeps it: touched at +100 s, still held at +200 s.
    services.touch_claim(
        reviewer=reviewer, incident_id=incident.pk, now=claimed + dt.timedelta(seconds=100)
    )
    assert services.release_idle_claims(now=claimed + dt.timedelta(seconds=200)) == 0
    assert services.release_idle_claims(now=claimed + dt.timedelta(seconds=221)) == 1

    assert not ReviewClaim.objects.exists()
    released = RealtimeEvent.objects.filter(kind="review.released").get()
    assert released.incident_id == incident.pk and released.payload["claimed_by"] is None
    # Back in the queue, unclaimed.
    assert services.claim_next(reviewer=reviewer).pk == incident.pk


def test_the_beat_task_releases_idle_claims(area, reviewer, settings):
    from apps.review.tasks import release_idle_claims

    settings.REVIEW_CLAIM_IDLE_SECONDS = 120
    incident = make_incident(area=area)
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    ReviewClaim.objects.update(last_activity_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))

    assert release_idle_claims.apply().get() == 1
    assert not ReviewClaim.objects.exists()
    assert "review-release-idle-claims" in settings.CELERY_BEAT_SCHEDULE


# --- Decisions -------------------------------------------------------------------------------


def test_publishing_emits_exactly_one_agency_event_and_one_signal(
    area, agency, reviewer, signals_seen, django_capture_on_commit_callbacks
):
    incident = make_incident(area=area, rounds=3)
    with django_capture_on_commit_callbacks(execute=True):
        services.claim(reviewer=reviewer, incident_id=incident.pk)
        decision = services.decide(
            reviewer=reviewer,
            incident_id=incident.pk,
            decision="multiple_gunshots",
            rounds=3,
            flags=["high_capacity"],
            comment="Three rounds, clear muzzle blasts.",
        )

    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PUBLISHED and incident.published_at is not None
    assert decision.high_capacity and decision.rounds == 3

    events = _agency_events(agency)
    assert [e.kind for e in events] == ["incident.published"]
    payload = events[0].payload
    assert payload == {
        "incident_id": incident.pk,
        "system_id": "531",
        "number": incident.number,
        "url": f"/incident/531/{incident.number}",
        "time": incident.first_shot_at.isoformat(),
        "published_at": incident.published_at.isoformat(),
        "coverage_area": "Central",
        "type": "multiple_gunshots",
        "type_label": "Multiple gunshots",
        "rounds": 3,
        "flags": ["high_capacity"],
        "nearest_address": "100 Main St",
        "beat": None,
        "district": None,
        "lat": incident.latitude,
        "lon": incident.longitude,
        "location_note": None,
    }
    assert signals_seen == [("incident_published", {"incident_id": incident.pk})]
    assert "review.decided" in _review_kinds()
    assert not ReviewClaim.objects.exists()
    kinds = list(IncidentHistory.objects.values_list("kind", "reason"))
    assert kinds == [("classification", ""), ("comment", "Three rounds, clear muzzle blasts.")]
    assert AuditEvent.objects.filter(action="review.decided", actor=reviewer).count() == 1


def test_not_gunfire_dismisses_without_any_agency_event(
    area, agency, reviewer, signals_seen, django_capture_on_commit_callbacks
):
    incident = make_incident(area=area)
    with django_capture_on_commit_callbacks(execute=True):
        services.claim(reviewer=reviewer, incident_id=incident.pk)
        services.decide(
            reviewer=reviewer,
            incident_id=incident.pk,
            decision="not_gunfire",
            not_gunfire_reason="firework",
            rounds=5,
        )
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.DISMISSED and incident.published_at is None
    assert _agency_events(agency) == [] and signals_seen == []
    assert "review.decided" in _review_kinds()


def test_decide_without_holding_the_claim_is_refused(area, reviewer, other_reviewer):
    incident = make_incident(area=area)
    with pytest.raises(services.ClaimRequired):
        services.decide(
            reviewer=reviewer, incident_id=incident.pk, decision="single_gunshot", rounds=1
        )
    services.claim(reviewer=other_reviewer, incident_id=incident.pk)
    with pytest.raises(services.ClaimRequired) as error:
        services.decide(
            reviewer=reviewer, incident_id=incident.pk, decision="single_gunshot", rounds=1
        )
    assert error.value.status == 403
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PENDING_REVIEW
    assert not ReviewDecision.objects.exists() and not IncidentHistory.objects.exists()


@pytest.mark.parametrize(
    "options, field",
    [
        ({"decision": "not_gunfire", "rounds": 1}, "not_gunfire_reason"),
        (
            {"decision": "single_gunshot", "rounds": 1, "not_gunfire_reason": "firework"},
            "not_gunfire_reason",
        ),
        (
            {"decision": "not_gunfire", "not_gunfire_reason": "pile_driver", "rounds": 1},
            "not_gunfire_reason",
        ),
        ({"decision": "maybe", "rounds": 1}, "decision"),
        ({"decision": "single_gunshot", "rounds": 0}, "rounds"),
        ({"decision": "single_gunshot", "rounds": 2}, "rounds"),
        ({"decision": "multiple_gunshots", "rounds": 1}, "rounds"),
        ({"decision": "single_gunshot", "rounds": 1, "flags": ["silenced"]}, "flags"),
        ({"decision": "single_gunshot", "rounds": 1, "moved_location": (91.0, 0.0)}, "latitude"),
        ({"decision": "single_gunshot", "rounds": 1, "moved_location": {"lat": 40.0}}, "latitude"),
    ],
)
def test_bad_decisions_are_refused_and_nothing_is_written(area, reviewer, options, field):
    incident = make_incident(area=area)
    services.claim(reviewer=reviewer, incident_id=incident.pk)
    with pytest.raises(ValidationError) as error:
        services.decide(reviewer=reviewer, incident_id=incident.pk, **options)
    assert field in error.value.message_dict
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PENDING_REVIEW
    assert ReviewClaim.objects.filter(incident=incident, reviewer=reviewer).exists()
    assert not ReviewDecision.objects.exists() and not IncidentHistory.objects.exists()


def test_a_decided_incident_cannot_be_decided_again(area, reviewer):
    incident = make_incident(area=area)
    _publish(reviewer, incident)
    with pytest.raises(services.WrongState):
        services.decide(
            reviewer=reviewer, incident_id=incident.pk, decision="single_gunshot", rounds=1
        )
    with pytest.raises(services.WrongState):
        services.claim(reviewer=reviewer, incident_id=incident.pk)


def test_decision_with_a_moved_location_replaces_the_place(area, agency, reviewer):
    incident = make_incident(area=area, lat=40.70, lon=-89.60)
    _publish(
        reviewer,
        incident,
        moved_location=(40.6936, -89.5890),
        location_note="possibly located behind building",
    )
    incident.refresh_from_db()
    assert (incident.latitude, incident.longitude) == (40.6936, -89.5890)
    assert incident.beat.name == "Beat 712" and incident.district.name == "District 7"
    payload = _agency_events(agency)[0].payload
    assert payload["location_note"] == "possibly located behind building"
    assert payload["beat"] == "Beat 712" and payload["district"] == "District 7"
    entry = IncidentHistory.objects.get(kind=HistoryKind.CLASSIFICATION)
    assert entry.before["latitude"] == 40.70 and entry.after["latitude"] == 40.6936
    assert entry.reason == "possibly located behind building"


# --- After publication ---------------------------------------------------------------------


def test_reclassification_without_a_reason_is_refused(area, reviewer):
    incident = make_incident(area=area)
    _publish(reviewer, incident)
    for reason in ("", "   ", None):
        with pytest.raises(ValidationError) as error:
            services.reclassify(
                reviewer=reviewer,
                incident_id=incident.pk,
                decision="single_gunshot",
                rounds=1,
                reason=reason,
            )
        assert error.value.message_dict["reason"] == ["A reclassification needs a reason."]
    assert ReviewDecision.objects.get().decision == "multiple_gunshots"
    assert IncidentHistory.objects.filter(kind=HistoryKind.RECLASSIFICATION).count() == 0


def test_reclassification_is_history_and_an_agency_update(
    area, agency, reviewer, signals_seen, django_capture_on_commit_callbacks
):
    incident = make_incident(area=area)
    with django_capture_on_commit_callbacks(execute=True):
        _publish(reviewer, incident)
        services.reclassify(
            reviewer=reviewer,
            incident_id=incident.pk,
            decision="possible_gunfire",
            rounds=3,
            reason="Echoes off the warehouse wall; not certain.",
        )
    assert [e.kind for e in _agency_events(agency)] == [
        "incident.published",
        "incident.reclassified",
    ]
    assert signals_seen[-1] == (
        "incident_updated",
        {
            "incident_id": incident.pk,
            "change": "reclassified",
            "reason": "Echoes off the warehouse wall; not certain.",
        },
    )
    entry = IncidentHistory.objects.get(kind=HistoryKind.RECLASSIFICATION)
    assert entry.before["decision"] == "multiple_gunshots"
    assert entry.after["decision"] == "possible_gunfire"
    assert entry.reason == "Echoes off the warehouse wall; not certain."
    assert entry.actor == reviewer
    decision = ReviewDecision.objects.get()
    assert decision.initial_decision == "multiple_gunshots"


def test_reclassifying_as_not_gunfire_cancels_and_back_publishes_again(
    area, agency, reviewer, signals_seen, django_capture_on_commit_callbacks
):
    incident = make_incident(area=area)
    with django_capture_on_commit_callbacks(execute=True):
        _publish(reviewer, incident)
        services.reclassify(
            reviewer=reviewer,
            incident_id=incident.pk,
            decision="not_gunfire",
            not_gunfire_reason="firecracker",
            reason="Firecracker string on the audio.",
            flags=[],
        )
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.DISMISSED
    assert signals_seen[-1] == (
        "incident_cancelled",
        {"incident_id": incident.pk, "reason": "Firecracker string on the audio."},
    )
    assert _agency_events(agency)[-1].kind == "incident.cancelled"

    with django_capture_on_commit_callbacks(execute=True):
        services.reclassify(
            reviewer=reviewer,
            incident_id=incident.pk,
            decision="single_gunshot",
            rounds=1,
            reason="Second listen: one real shot before the firecrackers.",
        )
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PUBLISHED
    assert signals_seen[-1] == ("incident_published", {"incident_id": incident.pk})
    assert [e.kind for e in _agency_events(agency)] == [
        "incident.published",
        "incident.cancelled",
        "incident.published",
    ]


def test_comments_reach_the_agency_and_the_history(
    area, agency, reviewer, signals_seen, django_capture_on_commit_callbacks
):
    incident = make_incident(area=area)
    with django_capture_on_commit_callbacks(execute=True):
        _publish(reviewer, incident)
        entry = services.add_comment(
            author=reviewer, incident_id=incident.pk, text="  Second incident nearby.  "
        )
    assert entry.reason == "Second incident nearby." and entry.kind == HistoryKind.COMMENT
    event = _agency_events(agency)[-1]
    assert event.kind == "incident.comment"
    assert event.payload["comment"]["text"] == "Second incident nearby."
    assert event.payload["comment"]["author"] == "Rita Reviewer"
    assert signals_seen[-1] == (
        "incident_updated",
        {"incident_id": incident.pk, "change": "comment", "reason": "Second incident nearby."},
    )
    with pytest.raises(ValidationError):
        services.add_comment(author=reviewer, incident_id=incident.pk, text="   ")
    officer = UserFactory(agency=agency)
    with pytest.raises(services.NotReviewStaff):
        services.add_comment(author=officer, incident_id=incident.pk, text="hello")


def test_comments_on_an_unpublished_incident_are_refused(area, reviewer):
    incident = make_incident(area=area)
    with pytest.raises(services.WrongState):
        services.add_comment(author=reviewer, incident_id=incident.pk, text="early")
    assert not IncidentHistory.objects.exists()


def test_moving_a_published_location_needs_a_note_and_tells_the_agency(
    area, agency, reviewer, signals_seen, django_capture_on_commit_callbacks
):
    incident = make_incident(area=area, lat=40.70, lon=-89.60)
    _publish(reviewer, incident)
    with pytest.raises(ValidationError) as error:
        services.move_location(
            reviewer=reviewer, incident_id=incident.pk, lat=40.6936, lon=-89.589, note=""
        )
    assert "location_note" in error.value.message_dict
    with django_capture_on_commit_callbacks(execute=True):
        services.move_location(
            reviewer=reviewer,
            incident_id=incident.pk,
            lat=40.6936,
            lon=-89.589,
            note="possibly located behind building",
        )
    event = _agency_events(agency)[-1]
    assert event.kind == "incident.location_moved"
    assert (event.payload["lat"], event.payload["lon"]) == (40.6936, -89.589)
    assert event.payload["location_note"] == "possibly located behind building"
    assert event.payload["beat"] == "Beat 712"
    assert signals_seen[-1] == (
        "incident_updated",
        {"incident_id": incident.pk, "change": "location_moved"},
    )
    entry = IncidentHistory.objects.get(kind=HistoryKind.LOCATION_MOVED)
    assert (entry.before["latitude"], entry.after["latitude"]) == (40.70, 40.6936)


# --- History ---------------------------------------------------------------------------------


def test_history_entries_cannot_be_edited_or_deleted_through_the_orm(area, reviewer):
    incident = make_incident(area=area)
    _publish(reviewer, incident)
    entry = IncidentHistory.objects.get()
    entry.reason = "rewritten"
    with pytest.raises(HistoryImmutableError):
        entry.save()
    with pytest.raises(HistoryImmutableError):
        entry.delete()
    with pytest.raises(HistoryImmutableError):
        IncidentHistory.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(HistoryImmutableError):
        IncidentHistory.objects.all().delete()
    assert IncidentHistory.objects.get().reason == ""


def test_history_rows_refuse_raw_sql_updates(area, reviewer):
    incident = make_incident(area=area)
    _publish(reviewer, incident)
    entry = IncidentHistory.objects.get()
    with pytest.raises(Exception, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE review_incidenthistory SET reason = 'rewritten' WHERE id = %s", [entry.pk]
            )
    assert IncidentHistory.objects.get().reason == ""


@pytest.mark.postgres
def test_history_rows_refuse_raw_sql_deletes_on_postgres(area, reviewer):
    incident = make_incident(area=area)
    _publish(reviewer, incident)
    with pytest.raises(Exception, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM review_incidenthistory")
    assert IncidentHistory.objects.count() == 1


def test_history_is_readable_by_the_incidents_agency_only_once_published(area, agency, reviewer):
    incident = make_incident(area=area)
    officer = UserFactory(agency=agency)
    stranger = UserFactory(agency=AgencyFactory())
    with pytest.raises(PermissionDenied):
        selectors.history_for(incident=incident, user=officer)  # not published yet
    _publish(reviewer, incident, comment="Clear gunfire.")
    assert [h.kind for h in selectors.history_for(incident=incident, user=officer)] == [
        "classification",
        "comment",
    ]
    assert selectors.history_for(incident=incident, user=reviewer).count() == 2
    with pytest.raises(PermissionDenied):
        selectors.history_for(incident=incident, user=stranger)


# --- Filtered incidents --------------------------------------------------------------------


def test_filtered_incidents_are_listed_as_summary_data_only(area):
    filtered = make_incident(
        area=area, status=IncidentStatus.FILTERED, probabilities={"construction": 0.9, "other": 0.1}
    )
    make_incident(area=area)
    rows = selectors.filtered_incidents()
    assert [r["id"] for r in rows] == [filtered.pk]
    assert set(rows[0]) == {
        "id",
        "reference",
        "number",
        "coverage_area",
        "first_shot_at",
        "detected_at",
        "rounds",
        "machine_class",
        "class_probabilities",
        "nearest_address",
        "latitude",
        "longitude",
        "n_sensors",
    }
    assert rows[0]["machine_class"] == "construction"


def test_promoting_a_filtered_incident_requests_its_audio_under_the_window_rules(
    area, reviewer, settings
):
    settings.AUDIO_SENSORS_PER_INCIDENT = 3
    incident = make_incident(area=area, status=IncidentStatus.FILTERED, rounds=2)
    sensors = make_sensors(area=area, n=5, radius_m=250.0)
    add_shot(incident=incident, sensors=sensors)
    add_shot(
        incident=incident,
        sensors=sensors,
        emitted_at=incident.first_shot_at + dt.timedelta(seconds=0.3),
    )
    assert not AudioRequest.objects.exists()

    services.promote_filtered(
        reviewer=reviewer, incident_id=incident.pk, reason="Caller reported shots here."
    )

    incident.refresh_from_db()
    assert incident.status == IncidentStatus.PENDING_REVIEW
    requests = list(AudioRequest.objects.filter(incident=incident))
    assert len(requests) == 3
    for request in requests:
        assert request.window_s == pytest.approx(0.3 + AUDIO_PRE_S + AUDIO_POST_S, abs=1e-3)
    assert IncidentHistory.objects.get().kind == HistoryKind.PROMOTED
    assert AuditEvent.objects.filter(action="review.promoted").count() == 1
    assert "review.queued" in _review_kinds()
    with pytest.raises(services.WrongState):
        services.promote_filtered(reviewer=reviewer, incident_id=incident.pk, reason="again")


def test_promotion_needs_a_reason_and_review_staff(area, agency, reviewer):
    incident = make_incident(area=area, status=IncidentStatus.FILTERED)
    with pytest.raises(ValidationError):
        services.promote_filtered(reviewer=reviewer, incident_id=incident.pk, reason="")
    with pytest.raises(services.NotReviewStaff):
        services.promote_filtered(
            reviewer=UserFactory(agency=agency), incident_id=incident.pk, reason="x"
        )
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.FILTERED


# --- Pipeline hook ---------------------------------------------------------------------------


def test_incidents_entering_review_are_queued_for_review_staff(area):
    incident = make_incident(area=area)
    services.on_incident_changed(incident_id=incident.pk, kind="entered_review")
    services.on_incident_changed(incident_id=incident.pk, kind="refined")
    filtered = make_incident(area=area, status=IncidentStatus.FILTERED)
    services.on_incident_changed(incident_id=filtered.pk, kind="filtered")
    events = list(RealtimeEvent.objects.filter(audience=Audience.REVIEW))
    assert [(e.kind, e.incident_id) for e in events] == [
        ("review.queued", incident.pk),
        ("review.refined", incident.pk),
    ]
    assert events[0].payload["reference"] == f"531-{incident.number}"


# --- Surge mode ------------------------------------------------------------------------------


def test_surge_mode_is_logged_raises_the_threshold_and_reorders(area, agency, reviewer):
    other_area = area.__class__.objects.create(agency=agency, name="North", boundary=area.boundary)
    p = lambda g: {"gunfire": g, "firework": 1 - g}  # noqa: E731
    fireworks = make_incident(area=area, rounds=9, probabilities=p(0.2))
    likely_gunfire = make_incident(area=area, rounds=3, probabilities=p(0.9))
    elsewhere = make_incident(area=other_area, rounds=2, probabilities=p(0.6))

    assert selectors.surge_routing_threshold(coverage_area_id=area.pk) is None
    assert selectors.routes_to_review(
        coverage_area_id=area.pk, probabilities=p(0.3), explosive_like=True
    )

    surge = services.set_surge(actor=reviewer, coverage_area_id=area.pk, on=True, threshold=0.85)

    assert surge.on and surge.threshold == 0.85 and surge.changed_by == reviewer
    audit = AuditEvent.objects.get(action="review.surge_on")
    assert audit.actor == reviewer and audit.agency == agency
    assert audit.details["threshold"] == 0.85
    assert selectors.surge_routing_threshold(coverage_area_id=area.pk) == 0.85
    assert not selectors.routes_to_review(
        coverage_area_id=area.pk, probabilities=p(0.84), explosive_like=True
    )
    assert selectors.routes_to_review(
        coverage_area_id=area.pk, probabilities=p(0.85), explosive_like=True
    )
    assert selectors.routes_to_review(
        coverage_area_id=other_area.pk, probabilities=p(0.3), explosive_like=True
    )
    order = [i.incident.pk for i in selectors.review_queue()]
    assert order == [elsewhere.pk, likely_gunfire.pk, fireworks.pk]
    assert "review.surge" in _review_kinds()

    services.set_surge(actor=reviewer, coverage_area_id=area.pk, on=False)
    assert AuditEvent.objects.filter(action="review.surge_off").count() == 1
    assert selectors.surge_routing_threshold(coverage_area_id=area.pk) is None
    # Out of surge: the machine's gunfire calls first (oldest first), the 9-round fireworks
    # after them despite its round count.
    assert [i.incident.pk for i in selectors.review_queue()] == [
        likely_gunfire.pk,
        elsewhere.pk,
        fireworks.pk,
    ]


def test_surge_needs_review_staff_and_a_probability(area, agency, reviewer):
    with pytest.raises(services.NotReviewStaff):
        services.set_surge(
            actor=UserFactory(super_user=True, agency=agency), coverage_area_id=area.pk, on=True
        )
    with pytest.raises(ValidationError):
        services.set_surge(actor=reviewer, coverage_area_id=area.pk, on=True, threshold=1.5)
    assert not AuditEvent.objects.filter(action__startswith="review.surge").exists()
