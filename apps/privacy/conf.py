"""Retention settings with their defaults; override any in Django settings.

Pulse and filtered-incident retention cannot go below the sensors' 72 h buffer (3 days):
a pulse may arrive up to 72 h late, and a search for a missed incident works on the
summary pulses of that period.
"""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # Summary pulses that belong to no located shot, by arrival time.
    "RETENTION_PULSES_DAYS": 30,
    # Machine-filtered incidents (with their shots and pulses), by their last shot.
    "RETENTION_FILTERED_INCIDENTS_DAYS": 30,
    # Audio clips of incidents decided "not gunfire", by the time of that decision.
    "RETENTION_DISMISSED_AUDIO_DAYS": 30,
    # Audio clips of investigation requests declined by the review center or cancelled by
    # the agency, by the time the request was closed. Completed requests' audio is
    # evidence the agency was given, kept like published incident audio.
    "RETENTION_DECLINED_INVESTIGATION_AUDIO_DAYS": 30,
    # Rows deleted per transaction, so a large purge never holds long locks.
    "RETENTION_BATCH_SIZE": 2000,
}

MINIMUM_DAYS = {
    "RETENTION_PULSES_DAYS": 3,
    "RETENTION_FILTERED_INCIDENTS_DAYS": 3,
    "RETENTION_DISMISSED_AUDIO_DAYS": 1,
    "RETENTION_DECLINED_INVESTIGATION_AUDIO_DAYS": 1,
}


def retention_setting(name: str):
    return getattr(settings, name, DEFAULTS[name])
