"""Audio retrieval under the privacy policy: who is asked, for which window, what is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import math

import pytest
from django.utils import timezone

from apps.incidents import pipeline, services
from apps.incidents.models import (
    AUDIO_POST_S,
    AUDIO_PRE_S,
    AudioClip,
    AudioRequest,
    AudioRequestStatus,
    Incident,
    IncidentStatus,
    ShotPulse,
)
from apps.sensors.models import RefusedRequest
from apps.sensors.server_key import server_signing_key
from apps.sensors.signing import SERVER_SIGNATURE_HEADER, server_answer_signed
from tests.incidents.support import (
    deploy,
    get_audio_requests,
    ingest,
    put_audio,
    wav_bytes,
)

pytestmark = pytest.mark.django_db

GUNSHOT = ("single_shot", 2)
RATE = 12_000


@pytest.fixture
def gunshot(agency, area, weather_of, classifier_model):
    """A located gunshot in review, with its audio requests."""
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    weather_of(deployment.scenario)
    ingest(deployment)
    pipeline.process_coverage_area(coverage_area_id=area.pk)
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.PENDING_REVIEW, incident.class_probabilities
    return deployment, incident


def _key_of(deployment, sensor):
    for found, key in deployment.sensors.values():
        if found.pk == sensor.pk:
            return key
    raise KeyError(sensor)


def _evidence_files(settings) -> list:
    root = settings.MEDIA_ROOT / "evidence"
    return sorted(root.iterdir()) if root.exists() else []


def test_requests_go_to_the_nearest_sensors_with_the_exact_window(gunshot, settings):
    deployment, incident = gunshot
    requests = list(AudioRequest.objects.filter(incident=incident).order_by("distance_m"))
    assert len(requests) == settings.AUDIO_SENSORS_PER_INCIDENT == 4
    # The participating sensors nearest the source (by the shot pulses' distance).
    members = ShotPulse.objects.filter(shot__incident=incident).order_by("distance_m")
    nearest = [m.sensor_id for m in members if m.distance_m <= 800][:4]
    assert [r.sensor_id for r in requests] == nearest
    shot = incident.shots.get()
    for request in requests:
        member = members.get(sensor_id=request.sensor_id)
        assert request.distance_m == member.distance_m <= 800
        arrival = member.pulse.arrival_time
        # [arrival of the first shot - 2 s, arrival of the last shot + 4 s], one shot here.
        assert request.window_start == arrival - dt.timedelta(seconds=AUDIO_PRE_S)
        assert request.window_end == arrival + dt.timedelta(seconds=AUDIO_POST_S)
        assert request.window_s == pytest.approx(AUDIO_PRE_S + AUDIO_POST_S, abs=2e-6)
        assert request.window_start.timestamp() > shot.emitted_epoch_s - AUDIO_PRE_S
        assert request.status == AudioRequestStatus.PENDING
        assert request.sample_rate == RATE


def test_fewer_and_nearer_sensors_by_setting(agency, area, weather_of, settings, classifier_model):
    settings.AUDIO_SENSORS_PER_INCIDENT = 2
    settings.AUDIO_MAX_DISTANCE_M = 150.0
    deployment = deploy(agency=agency, area=area, kind=GUNSHOT[0], seed=GUNSHOT[1])
    weather_of(deployment.scenario)
    ingest(deployment)
    pipeline.process_coverage_area(coverage_area_id=area.pk)
    incident = Incident.objects.get()
    members = ShotPulse.objects.filter(shot__incident=incident, distance_m__lte=150.0)
    requests = AudioRequest.objects.filter(incident=incident)
    assert requests.count() == min(2, members.count())
    assert all(r.distance_m <= 150.0 for r in requests)


def test_window_of_a_burst_spans_first_to_last_shot_and_never_more(gunshot):
    deployment, incident = gunshot
    request = AudioRequest.objects.filter(incident=incident).first()
    start, end = services.audio_window(first_shot_s=100.0, last_shot_s=103.5, first_arrival_s=101.2)
    assert (start, end) == (99.2, 99.2 + 3.5 + 6.0)
    assert request.window_s <= (incident.last_shot_at - incident.first_shot_at).total_seconds() + 6


def test_sensor_lists_only_its_own_pending_requests(client, gunshot):
    """The answer names the sensor, echoes the poll's nonce, and is signed with the
    server's key (the agent uploads nothing for anything else)."""
    deployment, incident = gunshot
    request = AudioRequest.objects.filter(incident=incident).select_related("sensor").first()
    key = _key_of(deployment, request.sensor)
    serial = request.sensor.serial_number
    reply = get_audio_requests(client, key=key, serial=serial, nonce="poll-nonce-0001")
    assert reply.status_code == 200, reply.content
    data = reply.json()
    issued = dt.datetime.fromisoformat(data.pop("issued_at"))
    assert abs((timezone.now() - issued).total_seconds()) < 5
    assert data == {
        "serial": serial,
        "nonce": "poll-nonce-0001",
        "requests": [
            {
                "id": request.pk,
                "incident": f"{incident.agency.system_id}-{incident.number}",
                "start_utc": request.window_start.isoformat().replace("+00:00", "Z"),
                "end_utc": request.window_end.isoformat().replace("+00:00", "Z"),
                "sample_rate": RATE,
                "expires_at": request.expires_at.isoformat().replace("+00:00", "Z"),
            }
        ],
    }
    server_public = server_signing_key().public_key()
    signature = reply.headers[SERVER_SIGNATURE_HEADER]
    assert server_answer_signed(body=reply.content, header=signature, public_keys=[server_public])
    assert not server_answer_signed(
        body=reply.content.replace(b"poll-nonce-0001", b"poll-nonce-0002"),
        header=signature,
        public_keys=[server_public],
    )
    requested = set(AudioRequest.objects.values_list("sensor_id", flat=True))
    other, other_key = next((s, k) for s, k in deployment.sensors.values() if s.pk not in requested)
    other_reply = get_audio_requests(client, key=other_key, serial=other.serial_number)
    assert other_reply.json()["requests"] == []
    assert other_reply.json()["serial"] == other.serial_number


def test_without_a_server_key_no_audio_request_is_handed_out(client, gunshot, settings):
    """DEBUG off and no SERVER_SIGNING_KEY_FILE: 503 problem (and the system check fails)."""
    from django.core import checks

    deployment, incident = gunshot
    request = AudioRequest.objects.filter(incident=incident).select_related("sensor").first()
    settings.SERVER_SIGNING_KEY_FILE = ""
    settings.SERVER_SIGNING_KEY_DEV_FILE = None
    key = _key_of(deployment, request.sensor)
    reply = get_audio_requests(client, key=key, serial=request.sensor.serial_number)
    assert reply.status_code == 503
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert "signing key" in reply.json()["detail"]
    assert "sensors.E001" in {error.id for error in checks.run_checks()}


def test_upload_inside_the_window_is_stored_with_its_sha256(client, gunshot, settings):
    deployment, incident = gunshot
    request = AudioRequest.objects.filter(incident=incident).select_related("sensor").first()
    body = wav_bytes(seconds=request.window_s)
    reply = put_audio(
        client,
        request_id=request.pk,
        body=body,
        start=request.window_start,
        key=_key_of(deployment, request.sensor),
        serial=request.sensor.serial_number,
    )
    assert reply.status_code == 201, reply.content
    digest = hashlib.sha256(body).hexdigest()
    assert reply.json() == {"status": "stored", "sha256": digest}
    clip = AudioClip.objects.get()
    assert (clip.incident, clip.sensor, clip.request) == (incident, request.sensor, request)
    assert clip.sha256 == digest and clip.size_bytes == len(body)
    assert clip.start_time == request.window_start
    assert clip.sample_rate == RATE and clip.n_samples == int(request.window_s * RATE + 1e-9)
    # Every sample lies inside the window.
    last_sample = clip.start_time.timestamp() + (clip.n_samples - 1) / RATE
    assert request.window_start <= clip.start_time
    assert last_sample < request.window_end.timestamp()
    assert clip.distance_m == request.distance_m
    with clip.file.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == digest
    files = _evidence_files(settings)
    assert len(files) == 1 and len(files[0].stem) == 32  # a random name, nothing else
    request.refresh_from_db()
    assert request.status == AudioRequestStatus.FULFILLED and request.fulfilled_at
    # Fulfilled requests are no longer listed, and a second upload is refused.
    key = _key_of(deployment, request.sensor)
    listed = get_audio_requests(client, key=key, serial=request.sensor.serial_number).json()
    assert request.pk not in [r["id"] for r in listed["requests"]]
    again = put_audio(
        client,
        request_id=request.pk,
        body=body,
        start=request.window_start,
        key=key,
        serial=request.sensor.serial_number,
    )
    assert again.status_code == 409
    assert AudioClip.objects.count() == 1


def _refused(reply, status: int):
    assert reply.status_code == status, reply.content
    assert reply["Content-Type"] == "application/problem+json"
    assert reply.json()["status"] == status
    return reply.json()


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("starts_before_window", 422),
        ("ends_after_window", 422),
        ("a_sample_after_the_window", 422),
        ("longer_than_window", 422),
        ("wrong_sample_rate", 422),
        ("stereo", 400),
        ("eight_bit", 400),
        ("malformed", 400),
        ("truncated", 400),
        ("empty", 422),
        ("not_wav_type", 415),
        ("start_header_missing", 400),
        ("start_header_not_signed", 400),
        ("start_header_not_a_time", 400),
        ("too_large", 413),
    ],
)
def test_refused_uploads_store_nothing(client, gunshot, settings, case, status):
    deployment, incident = gunshot
    request = AudioRequest.objects.filter(incident=incident).select_related("sensor").first()
    window = request.window_s
    start = request.window_start
    body = wav_bytes(seconds=window - 0.5)
    kwargs = {}
    if case == "starts_before_window":
        start = start - dt.timedelta(milliseconds=100)
    elif case == "ends_after_window":
        start = start + dt.timedelta(seconds=1)
    elif case == "a_sample_after_the_window":
        # Whole window plus two samples: the last one falls 1/rate after the window end.
        body = wav_bytes(seconds=window + 2.5 / RATE)
    elif case == "longer_than_window":
        body = wav_bytes(seconds=window + 0.5)
    elif case == "wrong_sample_rate":
        body = wav_bytes(seconds=2.0, rate=16_000)
    elif case == "stereo":
        body = wav_bytes(seconds=2.0, channels=2)
    elif case == "eight_bit":
        body = wav_bytes(seconds=2.0, width=1)
    elif case == "malformed":
        body = b"RIFF\x00\x00\x00\x00WAVEjunk" + b"\x00" * 100
    elif case == "truncated":
        body = wav_bytes(seconds=2.0)[:-1001]
        body = body[:4] + (len(body) + 5000).to_bytes(4, "little") + body[8:]
    elif case == "empty":
        body = wav_bytes(seconds=0.0)
    elif case == "not_wav_type":
        kwargs["content_type"] = "application/octet-stream"
    elif case == "start_header_missing":
        start = None
    elif case == "start_header_not_signed":
        kwargs["sign_start"] = False
    elif case == "start_header_not_a_time":
        start = "yesterday at noon"
    elif case == "too_large":
        body = wav_bytes(seconds=window * 3)
    reply = put_audio(
        client,
        request_id=request.pk,
        body=body,
        start=start,
        key=_key_of(deployment, request.sensor),
        serial=request.sensor.serial_number,
        **kwargs,
    )
    problem = _refused(reply, status)
    assert problem["detail"]
    assert not AudioClip.objects.exists()
    assert _evidence_files(settings) == []
    request.refresh_from_db()
    assert request.status == AudioRequestStatus.PENDING


def test_upload_without_a_request_or_for_another_sensor_is_404(client, gunshot, settings):
    deployment, incident = gunshot
    request = AudioRequest.objects.filter(incident=incident).select_related("sensor").first()
    requested = set(AudioRequest.objects.values_list("sensor_id", flat=True))
    other, other_key = next((s, k) for s, k in deployment.sensors.values() if s.pk not in requested)
    body = wav_bytes(seconds=2.0)
    for request_id in (request.pk, 999_999):
        reply = put_audio(
            client,
            request_id=request_id,
            body=body,
            start=request.window_start,
            key=other_key,
            serial=other.serial_number,
        )
        _refused(reply, 404)
    assert not AudioClip.objects.exists() and _evidence_files(settings) == []


def test_unsigned_or_forged_uploads_are_refused_before_anything(client, gunshot, settings):
    deployment, incident = gunshot
    request = AudioRequest.objects.filter(incident=incident).select_related("sensor").first()
    requested = set(AudioRequest.objects.values_list("sensor_id", flat=True))
    _, wrong_key = next((s, k) for s, k in deployment.sensors.values() if s.pk not in requested)
    body = wav_bytes(seconds=2.0)
    reply = put_audio(
        client,
        request_id=request.pk,
        body=body,
        start=request.window_start,
        key=wrong_key,
        serial=request.sensor.serial_number,
    )
    _refused(reply, 401)
    assert RefusedRequest.objects.filter(reason="bad_signature").exists()
    unsigned = client.generic(
        "PUT", f"/api/v1/sensor/audio-requests/{request.pk}", data=body, content_type="audio/wav"
    )
    _refused(unsigned, 401)
    assert not AudioClip.objects.exists() and _evidence_files(settings) == []


def test_expired_requests_are_gone(client, gunshot, settings):
    deployment, incident = gunshot
    request = AudioRequest.objects.filter(incident=incident).select_related("sensor").first()
    key = _key_of(deployment, request.sensor)
    AudioRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    listed = get_audio_requests(client, key=key, serial=request.sensor.serial_number).json()
    assert request.pk not in [r["id"] for r in listed["requests"]]
    body = wav_bytes(seconds=2.0)
    reply = put_audio(
        client,
        request_id=request.pk,
        body=body,
        start=request.window_start,
        key=key,
        serial=request.sensor.serial_number,
    )
    _refused(reply, 410)
    assert services.audio_requests_expire() >= 1
    request.refresh_from_db()
    assert request.status == AudioRequestStatus.EXPIRED
    _refused(
        put_audio(
            client,
            request_id=request.pk,
            body=body,
            start=request.window_start,
            key=key,
            serial=request.sensor.serial_number,
        ),
        410,
    )
    assert not AudioClip.objects.exists() and _evidence_files(settings) == []


def test_requests_are_only_ever_made_for_incidents_in_review(gunshot):
    _, incident = gunshot
    incident.status = IncidentStatus.FILTERED
    with pytest.raises(ValueError, match="in review"):
        services.audio_requests_sync(incident=incident, c=343.0)


def test_a_sensor_is_no_longer_asked_once_the_incident_is_decided_not_gunfire(client, gunshot):
    """Audio only for explosive-like incidents: once the review center dismissed it as
    not gunfire, the sensors still waiting to upload are no longer asked (they were
    until the request expired, and uploaded audio the server then refused with 409)."""
    from apps.review import services as review
    from tests.factories import UserFactory

    deployment, incident = gunshot
    pending = list(AudioRequest.objects.filter(incident=incident).select_related("sensor"))
    staff = UserFactory(irc_reviewer=True)
    review.claim(reviewer=staff, incident_id=incident.pk)
    review.decide(
        reviewer=staff,
        incident_id=incident.pk,
        decision="not_gunfire",
        rounds=1,
        not_gunfire_reason="firecracker",
    )
    for request in pending:
        key = _key_of(deployment, request.sensor)
        reply = get_audio_requests(client, key=key, serial=request.sensor.serial_number)
        assert reply.status_code == 200 and reply.json()["requests"] == []


def _add_later_shot(incident, *, after_s: float) -> None:
    """A copy of the incident's last shot, fired after_s later."""
    shot = incident.shots.order_by("emitted_epoch_s").last()
    later = incident.shots.get(pk=shot.pk)
    later.pk = None
    later.emitted_epoch_s = shot.emitted_epoch_s + after_s
    later.emitted_at = shot.emitted_at + dt.timedelta(seconds=after_s)
    later.save()


def test_a_refinement_extends_pending_windows_by_the_rule_only(gunshot):
    """A later shot of the same incident stretches the window to (last - first) + 6 s."""
    deployment, incident = gunshot
    before = {r.pk: (r.window_start, r.window_end) for r in incident.audio_requests.all()}
    _add_later_shot(incident, after_s=1.5)
    services.audio_requests_sync(incident=incident, c=340.0)
    for request in incident.audio_requests.all():
        start, end = before[request.pk]
        assert request.window_start == start
        assert request.window_end == end + dt.timedelta(seconds=1.5)
        assert math.isclose(request.window_s, 1.5 + AUDIO_PRE_S + AUDIO_POST_S, abs_tol=2e-6)


NOT_EXPLOSIVE = {
    "construction": 0.82,
    "firework": 0.09,
    "other": 0.06,
    "gunfire": 0.02,
    "backfire": 0.01,
}


def test_no_more_audio_once_later_shots_make_it_not_explosive(gunshot, settings):
    """Seen under make run: a construction site's first bangs looked like a firework (in
    review, audio asked), its later ones made it construction 82%, and the sensors were
    still asked for the whole 16 s of jackhammer. The incident stays in review (a human
    decides it), but nothing more is asked: no new sensor, no stretched window, and the
    requests not yet answered are withdrawn (the sensors no longer see them)."""
    _, incident = gunshot
    asked = {
        r.pk: (r.sensor_id, r.window_start, r.window_end) for r in incident.audio_requests.all()
    }
    assert asked
    incident.class_probabilities = NOT_EXPLOSIVE
    incident.save(update_fields=["class_probabilities"])
    _add_later_shot(incident, after_s=3.0)
    settings.AUDIO_SENSORS_PER_INCIDENT = 8  # room for more sensors: none is added

    services.audio_requests_sync(incident=incident, c=340.0)

    now = {r.pk: (r.sensor_id, r.window_start, r.window_end) for r in incident.audio_requests.all()}
    assert now == asked
    assert all(r.status == AudioRequestStatus.WITHDRAWN for r in incident.audio_requests.all())

    # Explosive-like again (the machine's call moved back): asking resumes by the rule.
    incident.class_probabilities = {**NOT_EXPLOSIVE, "construction": 0.02, "gunfire": 0.82}
    incident.save(update_fields=["class_probabilities"])
    services.audio_requests_sync(incident=incident, c=340.0)
    stretched = {r.pk: r.window_end for r in incident.audio_requests.all() if r.pk in asked}
    assert all(
        stretched[pk] == end + dt.timedelta(seconds=3.0) for pk, (_, _, end) in asked.items()
    )
    again = incident.audio_requests.filter(pk__in=asked)
    assert all(r.status == AudioRequestStatus.PENDING for r in again)


def test_a_reviewer_promoted_incident_keeps_its_audio_rule(gunshot):
    """A reviewer who promotes a machine-filtered incident asks for its audio; later
    shots stretch the windows as for any incident in review, whatever the machine says."""
    from apps.review import services as review
    from tests.factories import UserFactory

    _, incident = gunshot
    incident.audio_requests.all().delete()
    incident.status = IncidentStatus.FILTERED
    incident.class_probabilities = NOT_EXPLOSIVE
    incident.save(update_fields=["status", "class_probabilities"])

    review.promote_filtered(
        reviewer=UserFactory(irc_reviewer=True), incident_id=incident.pk, reason="sounds like shots"
    )

    asked = {r.pk: r.window_end for r in incident.audio_requests.all()}
    assert asked
    _add_later_shot(incident, after_s=2.0)
    incident.refresh_from_db()
    services.audio_requests_sync(incident=incident, c=340.0)
    for request in incident.audio_requests.all():
        assert request.window_end == asked[request.pk] + dt.timedelta(seconds=2.0)


def test_stored_audio_is_not_served_by_any_url(client, gunshot):
    """Only the review screen (issue 5) plays clips, through a view that audits it."""
    deployment, incident = gunshot
    request = AudioRequest.objects.filter(incident=incident).select_related("sensor").first()
    body = wav_bytes(seconds=2.0)
    reply = put_audio(
        client,
        request_id=request.pk,
        body=body,
        start=request.window_start,
        key=_key_of(deployment, request.sensor),
        serial=request.sensor.serial_number,
    )
    assert reply.status_code == 201
    name = AudioClip.objects.get().file.name
    for path in (f"/media/{name}", f"/{name}", "/media/evidence/", "/evidence/"):
        assert client.get(path).status_code == 404
    # The sensor API has no way to read audio back either.
    listing = client.get(f"/api/v1/sensor/audio-requests/{request.pk}")
    assert listing.status_code in (401, 405)


def test_schema_documents_the_audio_endpoints(client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    listing = schema["paths"]["/api/v1/sensor/audio-requests"]
    assert set(listing) == {"get"}
    upload = schema["paths"]["/api/v1/sensor/audio-requests/{request_id}"]
    assert set(upload) == {"put"}
    put = upload["put"]
    assert "audio/wav" in put["requestBody"]["content"]
    assert {"201", "404", "409", "410", "413", "422"} <= set(put["responses"])
    assert any(p["name"] == "Audio-Start-UTC" and p["in"] == "header" for p in put["parameters"])
    assert put["security"] == [{"SensorSignature": []}]
