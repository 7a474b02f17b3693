"""Adapter between the pipeline and the acoustic classifier (``apps.acoustics.classifier``).

Two failures are kept apart on purpose:

- ``ClassifierUnavailable``: no usable model is installed (or the module is missing).
  This is a deployment fault; it is raised, never papered over with a made-up result,
  so the pipeline run fails loudly and is retried once a model is installed.
- ``IncidentUnclassifiable``: a model exists but this incident's data cannot be scored
  (e.g. a sensor sent pulses without the features the model needs). The pipeline keeps
  such incidents with an empty class and requests NO audio for them: the privacy policy
  only allows audio once the sound was found explosive-like.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from apps.acoustics.incidents import Incident as AcousticIncident
from apps.acoustics.types import Pulse, Weather

logger = logging.getLogger("apps.incidents.classification")


class ClassifierUnavailable(RuntimeError):
    """No classifier model can be loaded: incidents cannot be routed."""


class IncidentUnclassifiable(ValueError):
    """The model exists but cannot score this incident (the message says why)."""


@dataclass(frozen=True)
class Classification:
    probabilities: dict[str, float]
    machine_class: str
    explosive_like: bool
    model_version: str


_lock = threading.Lock()
_cache: dict[str, tuple[float, object]] = {}


def _classifier_module():
    try:
        from apps.acoustics import classifier
    except ImportError as error:  # the module itself is missing or broken
        raise ClassifierUnavailable(
            f"the acoustic classifier cannot be imported: {error}"
        ) from None
    return classifier


def load_model(path: str | Path | None = None):
    """The model (newest installed artifact unless a path is given), cached per file version."""
    classifier = _classifier_module()
    try:
        if path is None:
            versions = classifier.installed_versions()
            if not versions:
                raise classifier.ClassifierError(
                    f"no classifier artifact in {classifier.ARTIFACT_DIR}; train one first"
                )
            path = classifier.artifact_path(versions[-1])
        path = Path(path)
        mtime = path.stat().st_mtime
    except (classifier.ClassifierError, OSError) as error:
        raise ClassifierUnavailable(str(error)) from None
    key = str(path)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            model = classifier.load_model(path)
        except classifier.ClassifierError as error:
            raise ClassifierUnavailable(str(error)) from None
        _cache[key] = (mtime, model)
        return model


def model_path_setting() -> str | None:
    from django.conf import settings

    return getattr(settings, "INCIDENT_CLASSIFIER_PATH", None) or None


def classify_incident(
    *, incident: AcousticIncident, pulses: Mapping[str, Pulse], weather: Weather | None
) -> Classification:
    """Class probabilities of a bundled incident and whether it is explosive-like."""
    classifier = _classifier_module()
    model = load_model(model_path_setting())
    try:
        features = classifier.incident_features(incident=incident, pulses=pulses, weather=weather)
        # Rounded as stored: audio is later allowed or not from the stored figures
        # (services.audio_allowed), so routing must judge the same ones.
        probabilities = {
            name: round(float(p), 6) for name, p in model.probabilities(features).items()
        }
        explosive = classifier.is_explosive_like(probabilities)
    except (classifier.ClassifierError, ValueError) as error:
        raise IncidentUnclassifiable(str(error)) from None
    # The artifact's operating point (a gunfire threshold from v3 on), not simply the argmax.
    machine_class = model.decide(probabilities)
    return Classification(
        probabilities=probabilities,
        machine_class=machine_class,
        explosive_like=bool(explosive),
        model_version=str(getattr(model, "version", "")),
    )
