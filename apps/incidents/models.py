"""Incidents: located shots bundled in time and place, their pulses, and incident audio.

An incident exists only once several sensors' pulses were consistent with one location
(a located shot). Its machine classification routes it: non-explosive sounds are kept as
``filtered`` summary data and never get audio; explosive-like ones enter the review queue
(``pending_review``) and only then may the nearest sensors upload a short clip
(``AudioRequest`` -> ``AudioClip``), never longer than 2 s before the first shot to 4 s
after the last (the privacy policy; see ``AUDIO_PRE_S`` and ``AUDIO_POST_S``).
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

# The privacy policy's bounds on incident audio, relative to the shots. Not settings.
AUDIO_PRE_S = 2.0
AUDIO_POST_S = 4.0


def incident_path(*, system_id: str, number: int) -> str:
    """The secure link of an incident (the portal serves it; issue 6)."""
    return f"/incident/{system_id}/{number}"


class IncidentStatus(models.TextChoices):
    FILTERED = "filtered", "Filtered (machine: not explosive)"
    PENDING_REVIEW = "pending_review", "Pending review"
    PUBLISHED = "published", "Published"
    DISMISSED = "dismissed", "Dismissed"


class IncidentSequence(models.Model):
    """Last incident number given out per agency (row-locked while a number is taken)."""

    agency = models.OneToOneField(
        "accounts.Agency", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.agency_id}: {self.last_number}"


class Incident(models.Model):
    agency = models.ForeignKey(
        "accounts.Agency", on_delete=models.PROTECT, related_name="incidents"
    )
    coverage_area = models.ForeignKey(
        "geo.CoverageArea", on_delete=models.PROTECT, related_name="incidents"
    )
    number = models.PositiveIntegerField(help_text="Sequential per agency, from 1.")
    status = models.CharField(max_length=20, choices=IncidentStatus.choices, db_index=True)

    first_shot_at = models.DateTimeField(help_text="Emission time of the first shot (UTC, µs).")
    last_shot_at = models.DateTimeField(help_text="Emission time of the last shot (UTC, µs).")
    detected_at = models.DateTimeField(
        default=timezone.now, help_text="When the pipeline created the incident."
    )
    located_at = models.DateTimeField(
        default=timezone.now, help_text="When the current location was computed."
    )
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="When its window passed (no shot can join any more)."
    )
    published_at = models.DateTimeField(null=True, blank=True)

    latitude = models.FloatField()
    longitude = models.FloatField()
    ellipse_major_m = models.FloatField(help_text="95% ellipse, semi-major axis (m).")
    ellipse_minor_m = models.FloatField(help_text="95% ellipse, semi-minor axis (m).")
    ellipse_azimuth_deg = models.FloatField(help_text="Major axis, degrees from north [0, 180).")
    # Origin of the local east-north-up frame of the shots' x/y (the area's centre).
    origin_latitude = models.FloatField()
    origin_longitude = models.FloatField()

    rounds = models.PositiveIntegerField(default=1)
    cadence_rpm = models.FloatField(null=True, blank=True)
    fully_automatic = models.BooleanField(default=False)
    multiple_shooters = models.BooleanField(default=False)
    n_shooters = models.PositiveSmallIntegerField(default=1)
    n_sensors = models.PositiveIntegerField(default=0, help_text="Distinct sensors in all shots.")

    machine_class = models.CharField(
        max_length=32, blank=True, help_text="Most likely class; empty when unclassifiable."
    )
    class_probabilities = models.JSONField(default=dict, blank=True)
    model_version = models.CharField(max_length=64, blank=True)

    nearest_address = models.CharField(max_length=200, blank=True)
    nearest_address_distance_m = models.FloatField(null=True, blank=True)
    beat = models.ForeignKey(
        "geo.Beat", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    district = models.ForeignKey(
        "geo.District", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )

    revision = models.PositiveIntegerField(default=1, help_text="Bumped on each refinement.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-first_shot_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "number"], name="unique_incident_number")
        ]
        indexes = [
            models.Index(fields=["status", "detected_at"], name="incident_status_detected"),
            models.Index(fields=["coverage_area", "last_shot_at"], name="incident_area_last_shot"),
        ]

    def __str__(self) -> str:
        return f"Incident {self.reference}"

    def get_absolute_url(self) -> str:
        return incident_path(system_id=self.agency.system_id, number=self.number)

    @property
    def reference(self) -> str:
        """``<system_id>-<number>``, as sensors and dispatch systems see it."""
        return f"{self.agency.system_id}-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class Shot(models.Model):
    """One located shot: a consistent set of pulses, at most one per sensor."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="shots")
    emitted_at = models.DateTimeField(help_text="Emission time (UTC, µs).")
    emitted_epoch_s = models.FloatField()
    latitude = models.FloatField()
    longitude = models.FloatField()
    # East/north metres in the incident's local frame (origin_latitude/origin_longitude).
    x_m = models.FloatField()
    y_m = models.FloatField()
    z_m = models.FloatField(null=True, blank=True, help_text="None for a 2D fix.")
    ellipse_major_m = models.FloatField()
    ellipse_minor_m = models.FloatField()
    ellipse_azimuth_deg = models.FloatField()
    cov_xx = models.FloatField()
    cov_xy = models.FloatField()
    cov_yy = models.FloatField()
    residual_rms_ms = models.FloatField()
    n_sensors = models.PositiveIntegerField()
    outside_hull = models.BooleanField(default=False)
    confident = models.BooleanField(default=True)
    shooter = models.PositiveSmallIntegerField(default=0, help_text="0 = most rounds.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["emitted_epoch_s", "id"]

    def __str__(self) -> str:
        return f"shot {self.pk} of incident {self.incident_id}"


class ShotPulse(models.Model):
    """A pulse that belongs to a shot (a pulse belongs to at most one shot)."""

    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="shot_pulses")
    pulse = models.OneToOneField(
        "sensors.SensorPulse", on_delete=models.PROTECT, related_name="shot_pulse"
    )
    sensor = models.ForeignKey("sensors.Sensor", on_delete=models.PROTECT, related_name="+")
    distance_m = models.FloatField(
        help_text=(
            "Horizontal distance from the sensor (its position when the pulse was stored) "
            "to the shot: the one sensor-to-source distance shown everywhere."
        )
    )
    residual_ms = models.FloatField(help_text="Observed minus predicted arrival (ms).")

    class Meta:
        ordering = ["distance_m", "id"]

    def __str__(self) -> str:
        return f"pulse {self.pulse_id} in shot {self.shot_id}"


class AudioRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    FULFILLED = "fulfilled", "Fulfilled"
    EXPIRED = "expired", "Expired"
    REFUSED = "refused", "Refused"
    # A nearer sensor took its place before the clip arrived.
    WITHDRAWN = "withdrawn", "Withdrawn"


# The requests that hold a sensor's one window of an investigation (pending, or answered).
INVESTIGATION_WINDOW_STATUSES = (
    AudioRequestStatus.PENDING,
    AudioRequestStatus.FULFILLED,
    AudioRequestStatus.REFUSED,
)


class AudioRequest(models.Model):
    """Permission for one sensor to upload one clip of one explosive-like incident, or of
    one investigation request (``apps.investigations``): exactly one of the two is set."""

    incident = models.ForeignKey(
        Incident,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="audio_requests",
    )
    investigation = models.ForeignKey(
        "investigations.InvestigationRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audio_requests",
    )
    sensor = models.ForeignKey(
        "sensors.Sensor", on_delete=models.PROTECT, related_name="audio_requests"
    )
    window_start = models.DateTimeField(help_text="Earliest sample allowed (UTC, µs).")
    window_end = models.DateTimeField(help_text="Latest sample end allowed (UTC, µs).")
    sample_rate = models.PositiveIntegerField(default=12_000)
    distance_m = models.FloatField(help_text="Sensor to source (the shot pulses' distance).")
    status = models.CharField(
        max_length=16,
        choices=AudioRequestStatus.choices,
        default=AudioRequestStatus.PENDING,
        db_index=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "sensor"], name="unique_audio_request"),
            # One window per sensor and investigation, counting only requests that are
            # live or answered: one that expired unanswered may be asked again.
            models.UniqueConstraint(
                fields=["investigation", "sensor"],
                condition=models.Q(status__in=INVESTIGATION_WINDOW_STATUSES),
                name="unique_live_investigation_audio_request",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(incident__isnull=False, investigation__isnull=True)
                    | models.Q(incident__isnull=True, investigation__isnull=False)
                ),
                name="audio_request_incident_xor_investigation",
            ),
            models.CheckConstraint(
                condition=models.Q(window_end__gt=models.F("window_start")),
                name="audio_request_window_positive",
            ),
        ]
        indexes = [models.Index(fields=["sensor", "status"], name="audio_request_sensor")]

    def __str__(self) -> str:
        return f"audio request {self.pk} ({self.status})"

    @property
    def window_s(self) -> float:
        return (self.window_end - self.window_start).total_seconds()


def evidence_path(instance, filename: str) -> str:
    """A random name: the file name says nothing about the incident or the sensor."""
    return f"evidence/{secrets.token_hex(16)}.wav"


class AudioClip(models.Model):
    """Incident evidence: a clip a sensor uploaded against an audio request."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="audio_clips")
    sensor = models.ForeignKey("sensors.Sensor", on_delete=models.PROTECT, related_name="+")
    request = models.OneToOneField(AudioRequest, on_delete=models.PROTECT, related_name="clip")
    start_time = models.DateTimeField(help_text="UTC time of the first sample (µs).")
    sample_rate = models.PositiveIntegerField()
    n_samples = models.PositiveIntegerField()
    duration_s = models.FloatField()
    sha256 = models.CharField(max_length=64, help_text="Of the file exactly as uploaded.")
    size_bytes = models.PositiveIntegerField()
    distance_m = models.FloatField(help_text="Sensor to source, as in the shot pulses.")
    file = models.FileField(upload_to=evidence_path, max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["distance_m", "id"]

    def __str__(self) -> str:
        return f"clip {self.pk} of incident {self.incident_id}"
