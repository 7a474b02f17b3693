"""Alerts out, modelled as data (in the spirit of healthchecks.io).

- ``AlertSubscription``: a Siren user's e-mail preferences (beats, districts, time windows
  in the agency's time zone, incident types). No row means the default: every alert.
- ``EmailDestination``: where a user's alerts go, and whether that address still works
  (a permanent SMTP failure marks it; the agency super user sees it and can reset it).
- ``AlertMessage``: one message about one incident that everything downstream receives,
  in order: the Alert (publish), its Updates and its Cancel. It carries the incident's
  facts at that moment and its CAP 1.2 document, so what was sent can be shown later.
- ``Notification``: one e-mail delivery attempt (attempt 1, 2, ...) of a message to a
  destination, with its outcome; all attempts of one e-mail share its Message-ID.
- ``WebhookEndpoint`` / ``WebhookDelivery``: an agency's dispatch (PSAP/CAD) receivers and
  one row per POST attempt with the response status, a body excerpt and the duration.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.alerts.failures import email_failure_message, failure_message


class IncidentType(models.TextChoices):
    """The reviewed type of a gunfire incident (the review center's gunfire decisions)."""

    SINGLE_GUNSHOT = "single_gunshot", "Single gunshot"
    MULTIPLE_GUNSHOTS = "multiple_gunshots", "Multiple gunshots"
    POSSIBLE_GUNFIRE = "possible_gunfire", "Possible gunfire"


class AlertSubscription(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_subscription"
    )
    enabled = models.BooleanField(default=True)
    # Empty beats AND districts: the whole agency. Otherwise an incident matches when it
    # lies in one of the beats OR one of the districts.
    beats = models.ManyToManyField("geo.Beat", blank=True, related_name="+")
    districts = models.ManyToManyField("geo.District", blank=True, related_name="+")
    # [["22:00", "06:00"], ...] wall-clock times in the agency's time zone, start inclusive,
    # end exclusive; start > end crosses midnight. Empty: any time of day.
    time_windows = models.JSONField(default=list, blank=True)
    # IncidentType values; empty: every type.
    incident_types = models.JSONField(default=list, blank=True)
    send_updates = models.BooleanField(
        default=True, help_text="Also e-mail reclassifications, comments and cancellations."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"alert subscription of {self.user_id}"


class DestinationStatus(models.TextChoices):
    OK = "ok", "OK"
    PERMANENTLY_FAILED = "permanently_failed", "Permanently failed"


class EmailDestination(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_destination"
    )
    address = models.EmailField()
    status = models.CharField(
        max_length=24, choices=DestinationStatus.choices, default=DestinationStatus.OK
    )
    last_error = models.TextField(blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["address"]

    def __str__(self) -> str:
        return f"{self.address} ({self.status})"

    @property
    def failure_message(self) -> str:
        """Why the address is marked failed, in words ('' when it is not); ``last_error``
        keeps the server's raw reply for platform staff."""
        return email_failure_message(error=self.last_error)


class MessageKind(models.TextChoices):
    PUBLISH = "publish", "Alert"
    UPDATE = "update", "Update"
    CANCEL = "cancel", "Cancel"


class AlertMessage(models.Model):
    uuid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="alert_messages"
    )
    agency = models.ForeignKey(
        "accounts.Agency", on_delete=models.PROTECT, related_name="alert_messages"
    )
    sequence = models.PositiveIntegerField(help_text="1, 2, ... per incident.")
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    change = models.CharField(
        max_length=20, blank=True, help_text="For updates: comment, reclassified, location_moved."
    )
    identifier = models.CharField(max_length=120, unique=True, help_text="CAP identifier.")
    sent_at = models.DateTimeField(default=timezone.now)
    facts = models.JSONField(help_text="The incident as it was when this message was made.")
    cap_xml = models.TextField()
    emails_created_at = models.DateTimeField(
        null=True, blank=True, help_text="When its e-mail notifications were made (once)."
    )

    class Meta:
        ordering = ["incident_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "sequence"], name="alert_message_sequence_unique"
            )
        ]
        indexes = [models.Index(fields=["agency", "sent_at"], name="alert_message_agency_sent")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.identifier}"

    @property
    def event_type(self) -> str:
        return EVENT_TYPES[self.kind]


TEST_EVENT = "test"  # a test delivery's event type (not subscribable: always allowed)

EVENT_TYPES = {
    MessageKind.PUBLISH: "incident.published",
    MessageKind.UPDATE: "incident.updated",
    MessageKind.CANCEL: "incident.cancelled",
}


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    RETRY_SCHEDULED = "retry_scheduled", "Failed, retry scheduled"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class Notification(models.Model):
    alert = models.ForeignKey(AlertMessage, on_delete=models.CASCADE, related_name="emails")
    destination = models.ForeignKey(
        EmailDestination, on_delete=models.CASCADE, related_name="notifications"
    )
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    address = models.EmailField(help_text="The address this attempt was sent to.")
    subject = models.CharField(max_length=300)
    message_id = models.CharField(max_length=200, help_text="Same for every attempt.")
    in_reply_to = models.CharField(max_length=200, blank=True)
    references = models.TextField(blank=True)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    not_before = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Accepted by the server.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "destination", "attempt"], name="notification_attempt_unique"
            )
        ]
        indexes = [models.Index(fields=["destination", "created_at"], name="notification_dest")]

    def __str__(self) -> str:
        return f"e-mail {self.message_id} attempt {self.attempt} ({self.status})"

    @property
    def kind(self) -> str:
        return self.alert.kind

    @property
    def failure_message(self) -> str:
        """What went wrong, for the deliveries page ('' when nothing did); ``error`` keeps
        the raw SMTP reply or exception text for platform staff."""
        return email_failure_message(
            error=self.error,
            smtp_code=self.smtp_code,
            attempt=self.attempt,
            skipped=self.status == DeliveryStatus.SKIPPED,
        )


class WebhookEndpoint(models.Model):
    agency = models.ForeignKey(
        "accounts.Agency", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    # The receiver needs the same secret to verify signatures, so it is kept (not hashed);
    # the pages show it once, when it is made.
    secret = models.CharField(max_length=100)
    event_types = models.JSONField(default=list, help_text="incident.published, ...")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "name"], name="webhook_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"


class WebhookDelivery(models.Model):
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # None for a test delivery ("Send test delivery" on the endpoint's page).
    message = models.ForeignKey(
        AlertMessage,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_deliveries",
    )
    delivery_id = models.UUIDField(default=uuid.uuid4, help_text="Same for every attempt.")
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    url = models.URLField(max_length=500)
    request_body = models.TextField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    not_before = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "message", "attempt"], name="webhook_attempt_unique"
            )
        ]

    def __str__(self) -> str:
        return f"webhook {self.delivery_id} attempt {self.attempt} ({self.status})"

    @property
    def event_type(self) -> str:
        """The ``X-ShotSpotter-Event`` it is sent with: the message's event, or ``test``."""
        return self.message.event_type if self.message_id else TEST_EVENT

    @property
    def failure_message(self) -> str:
        """What went wrong, for the delivery log ('' when nothing did); ``error`` keeps the
        raw text (an exception's repr) for platform staff."""
        return failure_message(
            error=self.error, response_status=self.response_status, attempt=self.attempt
        )
