"""Pipeline and audio-retrieval settings with their defaults; override any in Django settings."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # Association looks at the pulses of an area this many seconds around new pulses
    # (a shot's pulses span at most a few seconds over a city-sized array).
    "PIPELINE_WINDOW_S": 20,
    # A run handles at most this many unprocessed pulses; the rest get another run.
    "PIPELINE_MAX_PULSES_PER_RUN": 20_000,
    # Incremental association seeds from the new pulses, the stored shots' pulses and
    # this many of the loudest other pulses of the window.
    "PIPELINE_EXTRA_SEEDS": 12,
    # ... unless the window holds at most this many pulses outside stored shots: then
    # every pulse is a seed (exhaustive, and cheap at that size; incremental seeding can
    # need a few more sensors' posts before a marginal shot is found).
    "PIPELINE_FULL_SEED_MAX_PULSES": 200,
    # Segments of unprocessed pulses longer than this are associated piecewise.
    "PIPELINE_SEGMENT_MAX_S": 60,
    # Weather used for the speed of sound and the wind correction (no live feed yet).
    "PIPELINE_TEMPERATURE_C": 15.0,
    "PIPELINE_WIND_SPEED_MS": 0.0,
    "PIPELINE_WIND_FROM_DEG": 0.0,
    # How long the "a run is queued for this area" marker lives (seconds).
    "PIPELINE_DEDUPE_S": 5,
    # Bundling of shots into incidents (apps.acoustics.incidents.bundle semantics).
    "INCIDENT_MAX_GAP_S": 10.0,
    "INCIDENT_RADIUS_M": 200.0,
    # Two fixes closer than this are one shooter's position (multiple-shooter test).
    "INCIDENT_SAME_PLACE_M": 10.0,
    # An incident is closed when its last shot is this old (no shot can join it any more).
    "INCIDENT_CLOSE_AFTER_S": 30,
    # Audio retrieval (privacy policy): only explosive-like incidents, only the nearest
    # participating sensors within the distance. The window itself (2 s before the first
    # shot, 4 s after the last) is the policy's and not a setting: see models.AUDIO_PRE_S.
    "AUDIO_SENSORS_PER_INCIDENT": 4,
    "AUDIO_MAX_DISTANCE_M": 800.0,
    "AUDIO_SAMPLE_RATE": 12_000,
    "AUDIO_REQUEST_EXPIRY_S": 600,
}


def incident_setting(name: str):
    return getattr(settings, name, DEFAULTS[name])
