"""Review-center settings with their defaults; override any in Django settings."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # A claim with no activity for this long is released (beat task release_idle_claims).
    "REVIEW_CLAIM_IDLE_SECONDS": 120,
    # Service-level target: this share of incidents decided within this many seconds of
    # detection (the queue marks items past it as overdue).
    "REVIEW_TARGET_SECONDS": 60,
    "REVIEW_TARGET_SHARE": 0.9,
    # Surge mode's default routing threshold (machine gunfire probability) when switched on.
    "REVIEW_SURGE_DEFAULT_THRESHOLD": 0.8,
    # train_classifier refuses with fewer labelled incidents than this.
    "REVIEW_TRAIN_MIN_INCIDENTS": 20,
}


def review_setting(name: str):
    return getattr(settings, name, DEFAULTS[name])
