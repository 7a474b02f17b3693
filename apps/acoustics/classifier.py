"""Incident classifier: gunfire, firework, backfire, construction or other.

Input is what the server has: the located shots of an incident (see incidents.py) and the
per-pulse features the sensors sent. Per-pulse features are aggregated over the direct
pulses of all shots (medians), and incident features are added: the source level back-
computed from each sensor's distance (spherical spreading and ISO 9613-1 absorption), the
number of rounds, cadence and its regularity, the spread of the shots and of the sensors.

The model is multinomial logistic regression on standardised (and squared) features,
written with numpy/scipy. Its weights live in a versioned JSON artifact.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from apps.acoustics.features import BAND_EDGES_HZ, validate_features
from apps.acoustics.features import FEATURE_NAMES as PULSE_FEATURE_NAMES
from apps.acoustics.generator.physics import absorption_db_per_m
from apps.acoustics.incidents import Incident
from apps.acoustics.types import Pulse, Weather

CLASSES = ("gunfire", "firework", "backfire", "construction", "other")
EXPLOSIVE_LIKE = frozenset({"gunfire", "firework", "backfire"})
ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
ARTIFACT_FORMAT = "acoustic-incident-classifier"
SHOOTER_HEIGHT_M = 1.5  # assumed source height when a fix is 2D

_AGGREGATED = (
    "snr_db",
    "rise_time_ms",
    "decay_time_ms",
    "duration_ms",
    "crest_factor_db",
    "late_energy_ratio_db",
    "spectral_centroid_hz",
    "n_onsets",
    *[name for name in PULSE_FEATURE_NAMES if name.startswith("band_")],
)
_BANDS = tuple(name for name in PULSE_FEATURE_NAMES if name.startswith("band_"))
_BAND_CENTRES_HZ = np.sqrt(np.array(BAND_EDGES_HZ[:-1]) * np.array(BAND_EDGES_HZ[1:]))
INCIDENT_FEATURE_NAMES: tuple[str, ...] = (
    "source_level_db_median",
    "source_level_db_p90",
    "source_level_db_spread",
    *[f"{name}_median" for name in _AGGREGATED],
    *[f"source_{name}_median" for name in _BANDS],
    "source_centroid_hz_median",
    "rise_time_ms_p90",
    "log_rounds",
    "single_round",
    "cadence_rpm",
    "cadence_cv",
    "log_span_s",
    "sensors_per_shot",
    "log_max_range_m",
    "shot_spread_m",
    "n_shooters",
)
# Heavy-tailed features are modelled on a log scale.
_LOG_FEATURES = frozenset(
    {
        "rise_time_ms_median",
        "rise_time_ms_p90",
        "decay_time_ms_median",
        "duration_ms_median",
        "spectral_centroid_hz_median",
        "source_centroid_hz_median",
        "cadence_rpm",
        "shot_spread_m",
    }
)


class ClassifierError(ValueError):
    """Input the classifier cannot use; the message says why."""


def pulse_features(pulse: Pulse) -> dict[str, float]:
    """The sensor features of a pulse (nested under 'features' in allpulses files)."""
    raw = pulse.features.get("features", pulse.features) if pulse.features else {}
    return validate_features(raw, where=f"pulse {pulse.pulse_uuid}")


def incident_features(
    *,
    incident: Incident,
    pulses: Mapping[str, Pulse],
    weather: Weather | None = None,
    humidity_percent: float = 60.0,
) -> dict[str, float]:
    """Feature dict of one incident (names INCIDENT_FEATURE_NAMES)."""
    if not isinstance(incident, Incident) or not incident.shots:
        raise ClassifierError("an incident with at least one located shot is required")
    temperature = weather.temperature_c if weather is not None else 15.0
    rows: dict[str, list[float]] = {name: [] for name in _AGGREGATED}
    levels, ranges, sensors_per_shot, source_bands = [], [], [], []
    band_alpha = absorption_db_per_m(
        _BAND_CENTRES_HZ, temperature_c=temperature, humidity_percent=humidity_percent
    )
    for shot in incident.shots:
        shot_z = shot.z if shot.z is not None else SHOOTER_HEIGHT_M
        used = 0
        for uuid in shot.pulse_uuids:
            if uuid not in pulses:
                raise ClassifierError(f"shot refers to pulse {uuid} which was not supplied")
            pulse = pulses[uuid]
            values = pulse_features(pulse)
            distance = max(math.dist((shot.x, shot.y, shot_z), (pulse.x, pulse.y, pulse.z)), 1.0)
            alpha = float(
                absorption_db_per_m(
                    values["spectral_centroid_hz"],
                    temperature_c=temperature,
                    humidity_percent=humidity_percent,
                )
            )
            levels.append(values["peak_db_spl"] + 20 * math.log10(distance) + alpha * distance)
            ranges.append(distance)
            for name in _AGGREGATED:
                rows[name].append(values[name])
            # Undo the air's absorption band by band: an estimate of the emitted spectrum.
            emitted = np.array([values[b] for b in _BANDS]) * 10 ** (band_alpha * distance / 10)
            source_bands.append(emitted / max(float(emitted.sum()), 1e-12))
            used += 1
        sensors_per_shot.append(used)
    if not levels:
        raise ClassifierError("the incident's shots carry no pulses with features")
    xs = np.array([s.x for s in incident.shots])
    ys = np.array([s.y for s in incident.shots])
    spread = float(np.sqrt(np.mean((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2)))
    features = {
        "source_level_db_median": float(np.median(levels)),
        "source_level_db_p90": float(np.percentile(levels, 90)),
        # Muzzle blasts are directional; most other bangs radiate evenly.
        "source_level_db_spread": float(np.percentile(levels, 90) - np.percentile(levels, 10)),
        **{
            f"source_{name}_median": float(value)
            for name, value in zip(_BANDS, np.median(source_bands, axis=0), strict=True)
        },
        "source_centroid_hz_median": float(
            np.median([float(b @ _BAND_CENTRES_HZ) for b in source_bands])
        ),
        **{f"{name}_median": float(np.median(rows[name])) for name in _AGGREGATED},
        "rise_time_ms_p90": float(np.percentile(rows["rise_time_ms"], 90)),
        "log_rounds": math.log(incident.n_rounds),
        "single_round": float(incident.n_rounds == 1),
        "cadence_rpm": incident.cadence_rpm or 0.0,
        "cadence_cv": incident.cadence_cv if incident.cadence_cv is not None else 1.0,
        "log_span_s": math.log1p(incident.t_end - incident.t_start),
        "sensors_per_shot": float(np.median(sensors_per_shot)),
        "log_max_range_m": math.log(max(ranges)),
        "shot_spread_m": spread,
        "n_shooters": float(incident.n_shooters),
    }
    return {name: features[name] for name in INCIDENT_FEATURE_NAMES}


def _vector(features: Mapping[str, float], *, where: str = "incident") -> np.ndarray:
    if not isinstance(features, Mapping):
        raise ClassifierError(f"{where}: features must be a mapping of name -> number")
    unknown = sorted(set(features) - set(INCIDENT_FEATURE_NAMES))
    if unknown:
        raise ClassifierError(f"{where}: unknown feature name(s) {unknown}")
    missing = [name for name in INCIDENT_FEATURE_NAMES if name not in features]
    if missing:
        raise ClassifierError(f"{where}: missing feature(s) {missing}")
    values = []
    for name in INCIDENT_FEATURE_NAMES:
        value = features[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ClassifierError(f"{where}: feature {name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ClassifierError(f"{where}: feature {name} is not finite ({value!r})")
        values.append(math.log1p(max(value, 0.0)) if name in _LOG_FEATURES else float(value))
    return np.array(values)


def _expand(z: np.ndarray) -> np.ndarray:
    """Standardised features plus their squares (lets a linear model draw curved borders)."""
    return np.hstack([z, z**2])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass
class Model:
    version: int
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (n_expanded, n_classes)
    bias: np.ndarray
    created: str = ""
    training_set: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    classes: tuple[str, ...] = CLASSES
    feature_names: tuple[str, ...] = INCIDENT_FEATURE_NAMES

    def probabilities_many(self, rows: Iterable[Mapping[str, float]]) -> np.ndarray:
        matrix = np.array([_vector(r, where=f"incident {i}") for i, r in enumerate(rows)])
        if matrix.size == 0:
            return np.zeros((0, len(self.classes)))
        z = np.clip((matrix - self.mean) / self.scale, -8.0, 8.0)
        return _softmax(_expand(z) @ self.weights + self.bias)

    def probabilities(self, features: Mapping[str, float]) -> dict[str, float]:
        row = self.probabilities_many([features])[0]
        return {name: float(p) for name, p in zip(self.classes, row, strict=True)}

    def to_json(self) -> dict:
        return {
            "format": ARTIFACT_FORMAT,
            "version": self.version,
            "created": self.created,
            "training_set": self.training_set,
            "evaluation": self.evaluation,
            "classes": list(self.classes),
            "feature_names": list(self.feature_names),
            "log_features": sorted(_LOG_FEATURES),
            "expansion": "standardised + squared",
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias.tolist(),
        }

    @classmethod
    def from_json(cls, record: dict, *, where: str = "artifact") -> Model:
        if not isinstance(record, dict) or record.get("format") != ARTIFACT_FORMAT:
            raise ClassifierError(f"{where}: not an {ARTIFACT_FORMAT} artifact")
        if tuple(record.get("feature_names", ())) != INCIDENT_FEATURE_NAMES:
            raise ClassifierError(f"{where}: feature names differ from this code's; retrain")
        if tuple(record.get("classes", ())) != CLASSES:
            raise ClassifierError(f"{where}: classes differ from this code's; retrain")
        try:
            model = cls(
                version=int(record["version"]),
                mean=np.array(record["mean"], dtype=float),
                scale=np.array(record["scale"], dtype=float),
                weights=np.array(record["weights"], dtype=float),
                bias=np.array(record["bias"], dtype=float),
                created=str(record.get("created", "")),
                training_set=dict(record.get("training_set", {})),
                evaluation=dict(record.get("evaluation", {})),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ClassifierError(f"{where}: malformed artifact ({error})") from None
        n = len(INCIDENT_FEATURE_NAMES)
        shapes_ok = (
            model.mean.shape == (n,)
            and model.scale.shape == (n,)
            and model.weights.shape == (2 * n, len(CLASSES))
            and model.bias.shape == (len(CLASSES),)
        )
        if not shapes_ok or not all(
            np.all(np.isfinite(a)) for a in (model.mean, model.scale, model.weights, model.bias)
        ):
            raise ClassifierError(f"{where}: weights have the wrong shape or are not finite")
        return model


def train(
    *,
    examples: list[tuple[Mapping[str, float], str]],
    version: int = 1,
    l2: float = 1e-2,
    training_set: dict | None = None,
) -> Model:
    """Fit the model on (incident features, label) pairs; classes are weighted equally."""
    if not examples:
        raise ClassifierError("no labelled incidents to train on")
    labels = []
    for index, (_, label) in enumerate(examples):
        if label not in CLASSES:
            raise ClassifierError(f"example {index}: unknown label {label!r}; use one of {CLASSES}")
        labels.append(CLASSES.index(label))
    matrix = np.array([_vector(f, where=f"example {i}") for i, (f, _) in enumerate(examples)])
    y = np.array(labels)
    present = np.unique(y)
    if len(present) < 2:
        raise ClassifierError("training needs examples of at least two classes")
    mean = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = _expand(np.clip((matrix - mean) / scale, -8.0, 8.0))
    n, d = x.shape
    k = len(CLASSES)
    counts = np.bincount(y, minlength=k).astype(float)
    sample_weight = n / (len(present) * counts[y])
    onehot = np.eye(k)[y]

    def loss_and_grad(theta: np.ndarray):
        w = theta[: d * k].reshape(d, k)
        b = theta[d * k :]
        p = _softmax(x @ w + b)
        nll = -np.sum(sample_weight * np.log(np.sum(p * onehot, axis=1) + 1e-12)) / n
        residual = (p - onehot) * sample_weight[:, None] / n
        grad_w = x.T @ residual + 2 * l2 * w
        grad_b = residual.sum(axis=0)
        return nll + l2 * np.sum(w**2), np.concatenate([grad_w.ravel(), grad_b])

    result = minimize(
        loss_and_grad,
        np.zeros(d * k + k),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000},
    )
    theta = result.x
    counts_by_class = {c: int(counts[i]) for i, c in enumerate(CLASSES)}
    return Model(
        version=version,
        mean=mean,
        scale=scale,
        weights=theta[: d * k].reshape(d, k),
        bias=theta[d * k :],
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        training_set={**(training_set or {}), "incidents_per_class": counts_by_class},
    )


def evaluate(model: Model, examples: list[tuple[Mapping[str, float], str]]) -> dict:
    """Per-class precision/recall and the share of each class called gunfire."""
    if not examples:
        raise ClassifierError("no examples to evaluate")
    probs = model.probabilities_many([f for f, _ in examples])
    predicted = [CLASSES[i] for i in probs.argmax(axis=1)]
    truth = [label for _, label in examples]
    report = {}
    for name in CLASSES:
        tp = sum(p == name and t == name for p, t in zip(predicted, truth, strict=True))
        n_pred = sum(p == name for p in predicted)
        n_true = sum(t == name for t in truth)
        called_gunfire = sum(
            p == "gunfire" and t == name for p, t in zip(predicted, truth, strict=True)
        )
        report[name] = {
            "n": n_true,
            "precision": tp / n_pred if n_pred else None,
            "recall": tp / n_true if n_true else None,
            "called_gunfire": called_gunfire / n_true if n_true else None,
        }
    return report


def is_explosive_like(probabilities: Mapping[str, float]) -> bool:
    """True when explosive-like classes (gunfire, firework, backfire) are the more likely.

    The server uses this to decide whether audio may be requested from sensors.
    """
    if not isinstance(probabilities, Mapping) or not probabilities:
        raise ClassifierError("probabilities must be a non-empty mapping of class -> p")
    unknown = sorted(set(probabilities) - set(CLASSES))
    if unknown:
        raise ClassifierError(f"unknown class name(s) {unknown}")
    values = []
    for name, value in probabilities.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ClassifierError(f"probability of {name} is not a finite number: {value!r}")
        if not -1e-9 <= value <= 1 + 1e-9:
            raise ClassifierError(f"probability of {name} is outside [0, 1]: {value}")
        values.append(value)
    explosive = sum(v for n, v in probabilities.items() if n in EXPLOSIVE_LIKE)
    return explosive > sum(values) - explosive


def artifact_path(version: int, *, directory: Path = ARTIFACT_DIR) -> Path:
    return Path(directory) / f"incident_classifier_v{version:03d}.json"


def installed_versions(directory: Path = ARTIFACT_DIR) -> list[int]:
    versions = []
    for path in Path(directory).glob("incident_classifier_v*.json"):
        stem = path.stem.rsplit("_v", 1)[-1]
        if stem.isdigit():
            versions.append(int(stem))
    return sorted(versions)


def save_model(model: Model, *, directory: Path = ARTIFACT_DIR) -> Path:
    path = artifact_path(model.version, directory=directory)
    if path.exists():
        raise ClassifierError(f"{path} exists; artifacts are immutable, use a new version")
    Path(directory).mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    return path


def load_model(path: str | Path | None = None, *, directory: Path = ARTIFACT_DIR) -> Model:
    """The given artifact, or the newest installed version."""
    if path is None:
        versions = installed_versions(directory)
        if not versions:
            raise ClassifierError(f"no classifier artifact in {directory}; train one first")
        path = artifact_path(versions[-1], directory=directory)
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ClassifierError(f"{path}: cannot read ({error.strerror or error})") from None
    except json.JSONDecodeError as error:
        raise ClassifierError(f"{path}: not valid JSON ({error})") from None
    return Model.from_json(record, where=str(path))


def classify(
    *,
    incident: Incident,
    pulses: Mapping[str, Pulse],
    weather: Weather | None = None,
    model: Model | None = None,
) -> dict[str, float]:
    """Class probabilities for one incident (the installed model unless one is given)."""
    model = model or load_model()
    return model.probabilities(incident_features(incident=incident, pulses=pulses, weather=weather))


def labelled_example(record, *, where: str = "record") -> tuple[dict[str, float], str]:
    """(features, label) from a labelled incident record.

    Two forms are accepted: {"label", "features": {incident features}} or, as a reviewer's
    decision is stored, {"label", "shots": [{"t_emit", "x", "y", "pulse_uuids", ...}],
    "pulses": [allpulses records with "features"], "weather": {...} (optional)}.
    """
    # Local imports: io and incidents are only needed for the raw form.
    from apps.acoustics.incidents import bundle
    from apps.acoustics.io import PulseFileError, pulse_from_record
    from apps.acoustics.types import LocatedShot

    if not isinstance(record, dict):
        raise ClassifierError(f"{where}: expected a JSON object")
    label = record.get("label")
    if label not in CLASSES:
        raise ClassifierError(f"{where}: label must be one of {CLASSES}, got {label!r}")
    if "features" in record:
        features = record["features"]
        _vector(features, where=where)
        return {k: float(v) for k, v in features.items()}, label
    shots_raw, pulses_raw = record.get("shots"), record.get("pulses")
    if not isinstance(shots_raw, list) or not shots_raw or not isinstance(pulses_raw, list):
        raise ClassifierError(f"{where}: needs 'features', or non-empty 'shots' and 'pulses'")
    try:
        pulses = {
            p.pulse_uuid: p
            for p in (
                pulse_from_record(r, where=f"{where} pulse {i}") for i, r in enumerate(pulses_raw)
            )
        }
    except PulseFileError as error:
        raise ClassifierError(str(error)) from None
    shots = []
    for i, raw in enumerate(shots_raw):
        try:
            sigma2 = float(raw.get("sigma_m", 5.0)) ** 2
            uuids = tuple(raw["pulse_uuids"])
            shots.append(
                LocatedShot(
                    t_emit=float(raw["t_emit"]),
                    x=float(raw["x"]),
                    y=float(raw["y"]),
                    z=None if raw.get("z") is None else float(raw["z"]),
                    pulse_uuids=uuids,
                    sensor_ids=tuple(pulses[u].sensor_id for u in uuids if u in pulses),
                    residual_rms_s=0.0,
                    cov_xy=((sigma2, 0.0), (0.0, sigma2)),
                    ellipse95_major_m=math.sqrt(5.991 * sigma2),
                    ellipse95_minor_m=math.sqrt(5.991 * sigma2),
                    ellipse95_azimuth_deg=0.0,
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ClassifierError(f"{where}: shot {i} is malformed ({error})") from None
    incidents = bundle(shots, max_gap_s=math.inf, radius_m=math.inf)
    weather_raw = record.get("weather") or {}
    try:
        weather = Weather(
            temperature_c=float(weather_raw.get("temperature", 15.0)),
            wind_speed_ms=float(weather_raw.get("speed", 0.0)),
            wind_from_deg=float(weather_raw.get("direction", 0.0)),
        )
    except (TypeError, ValueError, AttributeError) as error:
        raise ClassifierError(f"{where}: weather is malformed ({error})") from None
    try:
        features = incident_features(incident=incidents[0], pulses=pulses, weather=weather)
    except ValueError as error:
        raise ClassifierError(f"{where}: {error}") from None
    return features, label


L2_CANDIDATES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def select_l2(
    examples: list[tuple[Mapping[str, float], str]],
    *,
    folds: int = 5,
    candidates: tuple[float, ...] = L2_CANDIDATES,
    max_false_gunfire: float = 0.02,
) -> tuple[float, dict]:
    """L2 penalty by k-fold cross-validation on the training examples only.

    Among penalties whose cross-validated share of fireworks/backfire/construction called
    gunfire is within max_false_gunfire, take the best gunfire recall, ties going to the
    stronger penalty; if none qualifies, the fewest false gunfire calls.
    """
    labels = np.array([CLASSES.index(label) for _, label in examples])
    confuser = np.isin(labels, [CLASSES.index(c) for c in ("firework", "backfire", "construction")])
    gunfire = labels == CLASSES.index("gunfire")
    if not gunfire.any() or not confuser.any():
        raise ClassifierError("cross-validation needs gunfire and confuser examples")
    scores = {}
    for l2 in candidates:
        predicted = np.zeros(len(examples), dtype=int)
        for fold in range(folds):
            held = [i for i in range(len(examples)) if i % folds == fold]
            kept = [examples[i] for i in range(len(examples)) if i % folds != fold]
            model = train(examples=kept, l2=l2)
            probs = model.probabilities_many([examples[i][0] for i in held])
            predicted[held] = probs.argmax(axis=1)
        called = predicted == CLASSES.index("gunfire")
        scores[l2] = {
            "gunfire_recall": float(called[gunfire].mean()),
            "confusers_called_gunfire": float(called[confuser].mean()),
        }
    eligible = [
        l2 for l2 in candidates if scores[l2]["confusers_called_gunfire"] <= max_false_gunfire
    ]
    if eligible:
        best = max(eligible, key=lambda l2: (scores[l2]["gunfire_recall"], l2))
    else:
        best = min(candidates, key=lambda l2: (scores[l2]["confusers_called_gunfire"], -l2))
    return best, scores
