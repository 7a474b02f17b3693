"""Published incidents for portal tests, through the review center's real services."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import wave

from django.core.files.base import ContentFile
from django.utils import timezone

from apps.geo.models import Beat, CoverageArea, District
from apps.incidents.models import AudioClip, AudioRequest, Incident, IncidentStatus
from apps.incidents.services import incident_number_next
from apps.review import services as review
from tests.factories import UserFactory

CENTRE = (40.6936, -89.5890)


def square(lat: float, lon: float, half_deg: float) -> dict:
    ring = [
        [lon - half_deg, lat - half_deg],
        [lon + half_deg, lat - half_deg],
        [lon + half_deg, lat + half_deg],
        [lon - half_deg, lat + half_deg],
        [lon - half_deg, lat - half_deg],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def geography(agency, *, centre=CENTRE):
    """A coverage area with one district and one beat around ``centre``."""
    area, _ = CoverageArea.objects.get_or_create(
        agency=agency, name="Central", defaults={"boundary": square(*centre, 0.03)}
    )
    district, _ = District.objects.get_or_create(
        agency=agency, name="District 1", defaults={"boundary": square(*centre, 0.02)}
    )
    beat, _ = Beat.objects.get_or_create(
        agency=agency,
        name="Beat 11",
        defaults={"boundary": square(*centre, 0.01), "district": district},
    )
    return area, district, beat


def pending_incident(
    agency,
    *,
    lat: float = CENTRE[0],
    lon: float = CENTRE[1],
    rounds: int = 3,
    when: dt.datetime | None = None,
    address: str = "1200 block of W Main St",
    beat=None,
    district=None,
    machine_class: str = "gunfire",
) -> Incident:
    area, _, _ = geography(agency)
    when = when or timezone.now() - dt.timedelta(minutes=1)
    return Incident.objects.create(
        agency=agency,
        coverage_area=area,
        number=incident_number_next(agency=agency),
        status=IncidentStatus.PENDING_REVIEW,
        first_shot_at=when,
        last_shot_at=when + dt.timedelta(seconds=2),
        detected_at=when + dt.timedelta(seconds=5),
        latitude=lat,
        longitude=lon,
        ellipse_major_m=40.0,
        ellipse_minor_m=20.0,
        ellipse_azimuth_deg=30.0,
        origin_latitude=CENTRE[0],
        origin_longitude=CENTRE[1],
        rounds=rounds,
        machine_class=machine_class,
        nearest_address=address,
        beat=beat,
        district=district,
    )


_reviewer = None


def reviewer():
    global _reviewer
    from apps.accounts.models import User

    if _reviewer is None or not User.objects.filter(pk=_reviewer.pk).exists():
        _reviewer = UserFactory(irc_reviewer=True)
    return _reviewer


def publish(incident: Incident, *, decision: str = "multiple_gunshots", rounds: int | None = None):
    """Claim and decide the incident as gunfire: the review center's real publish path."""
    staff = reviewer()
    review.claim(reviewer=staff, incident_id=incident.pk)
    review.decide(
        reviewer=staff,
        incident_id=incident.pk,
        decision=decision,
        rounds=rounds if rounds is not None else incident.rounds,
    )
    incident.refresh_from_db()
    return incident


def published_incident(agency, **kwargs) -> Incident:
    decision = kwargs.pop("decision", "multiple_gunshots")
    return publish(pending_incident(agency, **kwargs), decision=decision)


def comment(incident: Incident, text: str):
    return review.add_comment(author=reviewer(), incident_id=incident.pk, text=text)


def wav_bytes(*, seconds: float = 0.1, rate: int = 8000) -> bytes:
    """A short WAV: a decaying 700 Hz burst (an audible stand-in for a clip)."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    samples = 0.5 * np.exp(-t / 0.05) * np.sin(2 * np.pi * 700 * t)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def add_clip(incident: Incident, *, distance_m: float = 120.0, serial: str = "S-0001"):
    """A stored clip of ``incident`` from a newly registered sensor ``distance_m`` away."""
    from tests.sensors.support import register

    sensor, _ = register(agency=incident.agency, serial=serial)
    request = AudioRequest.objects.create(
        incident=incident,
        sensor=sensor,
        window_start=incident.first_shot_at - dt.timedelta(seconds=2),
        window_end=incident.last_shot_at + dt.timedelta(seconds=4),
        distance_m=distance_m,
        expires_at=timezone.now() + dt.timedelta(minutes=10),
        status="fulfilled",
    )
    data = wav_bytes()
    clip = AudioClip(
        incident=incident,
        sensor=sensor,
        request=request,
        start_time=request.window_start,
        sample_rate=8000,
        n_samples=800,
        duration_s=0.1,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        distance_m=distance_m,
    )
    clip.file.save("clip.wav", ContentFile(data), save=False)
    clip.save()
    return clip


def move(incident: Incident, *, lat: float, lon: float, note: str):
    return review.move_location(
        reviewer=reviewer(), incident_id=incident.pk, lat=lat, lon=lon, note=note
    )


def reclassify(incident: Incident, *, decision: str, reason: str, rounds: int | None = None):
    return review.reclassify(
        reviewer=reviewer(),
        incident_id=incident.pk,
        decision=decision,
        reason=reason,
        rounds=rounds,
    )
