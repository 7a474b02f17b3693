"""Playback grants: the token an audio element's requests carry for one audited playback."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class PlaybackGrant(models.Model):
    """One playback of one stored clip by one user in one session, audited when issued.

    Only the SHA-256 of the token is stored, so a database reader cannot replay one. The
    clip is generic: incident clips (``incidents.AudioClip``) and any other kind of stored
    evidence registered with ``apps.evidence.services.register_clip_kind``.
    """

    token_sha256 = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=64, blank=True)
    clip_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    clip_id = models.PositiveBigIntegerField()
    clip = GenericForeignKey("clip_type", "clip_id")
    audit_event = models.ForeignKey(
        "audit.AuditEvent",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The audio.playback event written when the grant was issued.",
    )
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    opened_at = models.DateTimeField(
        null=True, blank=True, help_text="First request for the bytes (a replay needs a new grant)."
    )
    fetches = models.PositiveIntegerField(default=0)
    bytes_served = models.PositiveBigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="playback_grant_expires")]

    def __str__(self) -> str:
        return f"playback {self.pk} of {self.clip_type_id}:{self.clip_id} by {self.user_id}"
