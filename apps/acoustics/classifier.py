"""Incident classifier: gunfire, firework, backfire, construction or other.

Input is what the server has: the located shots of an incident (see incidents.py) and the
per-pulse features the sensors sent. Per-pulse features are aggregated over the direct
pulses of all shots (medians), and incident features are added: the source level back-
computed from each sensor's distance (spherical spreading and ISO 9613-1 absorption), the
number of rounds, cadence and its regularity, the spread of the shots and of the sensors.

From version 4 the features also describe the muzzle's directivity: how the back-computed
level varies with the azimuth of the sensors around the located source (a muzzle blast is
several dB louder ahead than behind; firecrackers, backfires and hammer blows radiate
evenly), with sensors whose line of sight is blocked set aside (`directivity_features`),
plus the brightness of the emitted spectrum and the shortest gap between rounds. Version 5
adds how far the levels stray from that fit, robustly (`mixed_bang_features`): the live
association can build a "shot" of pulses from different bangs of a fireworks night, whose
back-computed levels disagree far more than one muzzle's do.

Two models, written with numpy/scipy: multinomial logistic regression on standardised
(and squared) features (artifacts v1-v3), and gradient-boosted regression trees with a
softmax over the classes (v4, v5). Each lives in a versioned JSON artifact that lists the
features it reads, so older artifacts keep working as features are added. From version 3
the artifact also holds the decision's operating point: an incident is called gunfire when
P(gunfire) reaches a threshold chosen on out-of-fold (cross-validated) training
predictions, otherwise it gets the likeliest other class (`choose_gunfire_threshold`).
Older artifacts carry no threshold and call the likeliest class.
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
from apps.acoustics.numbers import finite_float
from apps.acoustics.types import Pulse, Weather

CLASSES = ("gunfire", "firework", "backfire", "construction", "other")
EXPLOSIVE_LIKE = frozenset({"gunfire", "firework", "backfire"})
ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
# Versions trained and evaluated but not installed (they did not beat the installed one on
# fresh held-out data): kept, loadable by path, never the default (the newest in ARTIFACT_DIR).
CANDIDATE_DIR = ARTIFACT_DIR / "candidates"
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
# Added in version 4 (older artifacts list the features they use and keep working):
# muzzle directivity seen across the sensors and the spacing of the bangs.
_ADDED_IN_V4: tuple[str, ...] = (
    "directivity_db",
    "directivity_z",
    "level_fit_residual_db",
    "source_level_db_forward",
    "azimuth_coverage",
    "source_hi_lo_db",
    "log_min_gap_s",
)
# Added in version 5: pulses of different bangs mixed into one located "shot" (a fireworks
# night: strings of firecrackers tens of ms apart, overlapping sources). Back-computed to
# the located source, their levels disagree far more than a muzzle's pattern explains.
_ADDED_IN_V5: tuple[str, ...] = (
    "level_residual_mad_db",
    "level_residual_p90_db",
)
INCIDENT_FEATURE_NAMES_V1 = INCIDENT_FEATURE_NAMES  # artifacts v1-v3
INCIDENT_FEATURE_NAMES_V4 = INCIDENT_FEATURE_NAMES_V1 + _ADDED_IN_V4
INCIDENT_FEATURE_NAMES = INCIDENT_FEATURE_NAMES_V4 + _ADDED_IN_V5
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
    shot_of_level, azimuths = [], []
    for shot_index, shot in enumerate(incident.shots):
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
            shot_of_level.append(shot_index)
            azimuths.append(math.atan2(pulse.x - shot.x, pulse.y - shot.y))
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
        **directivity_features(
            levels=np.array(levels), azimuths=np.array(azimuths), shots=np.array(shot_of_level)
        ),
        "source_hi_lo_db": _hi_lo_db(np.median(source_bands, axis=0)),
        "log_min_gap_s": math.log1p(
            float(np.min(np.diff([s.t_emit for s in incident.shots])))
            if incident.n_rounds > 1
            else SINGLE_ROUND_GAP_S
        ),
    }
    return {name: features[name] for name in INCIDENT_FEATURE_NAMES}


SINGLE_ROUND_GAP_S = 10.0  # log_min_gap_s of a one-round incident: the bundling gap
DIRECTIVITY_RIDGE = 1.0  # prior weight (in pulses' worth) pulling the cosine fit to 0
TRIM_SIGMAS = 1.5  # levels this far below the directivity fit count as blocked sight lines
_HI_BANDS = (4, 5, 6)  # 800-3600 Hz
_LO_BANDS = (2, 3)  # 200-800 Hz


def _hi_lo_db(bands: np.ndarray) -> float:
    """Emitted energy above 800 Hz re 200-800 Hz: short positive phases are brighter."""
    high = float(sum(bands[i] for i in _HI_BANDS))
    low = float(sum(bands[i] for i in _LO_BANDS))
    return 10.0 * math.log10((high + 1e-4) / (low + 1e-4))


def directivity_features(
    *, levels: np.ndarray, azimuths: np.ndarray, shots: np.ndarray
) -> dict[str, float]:
    """How the back-computed source level varies with the azimuth of the sensors.

    A muzzle blast is louder ahead of the muzzle than behind it (a cardioid in dB); a
    firecracker, a backfire or a hammer blow radiates about evenly. Per shot, the level is
    fitted as intercept + b cos(azimuth) + c sin(azimuth), pooled over the shots of the
    incident (one intercept each, common b and c: one shooter keeps his facing), by ridge-
    regularised least squares. A sensor whose line of sight is blocked hears the bang
    diffracted round a building, several dB weaker, never stronger: levels more than
    TRIM_SIGMAS residual deviations below the fit are left out and the fit repeated, so
    the fit follows the unobstructed radiation pattern. Returns the fitted front-to-back
    difference 2 sqrt(b^2 + c^2) in dB, its size against its standard error, the residual
    spread of the kept levels, the fitted on-axis level, how evenly the sensors surround
    the source (1 - mean resultant length of their azimuths), and how far all the levels,
    the set-aside ones too, stray from the fit (`mixed_bang_features`).
    """
    levels = np.asarray(levels, dtype=float)
    shots = np.asarray(shots)
    unit = np.exp(1j * np.asarray(azimuths, dtype=float))
    coverage = float(1.0 - abs(unit.mean())) if len(unit) else 0.0
    design = np.column_stack([unit.real, unit.imag])
    neutral = {
        "directivity_db": 0.0,
        "directivity_z": 0.0,
        "level_fit_residual_db": float(np.std(levels)) if len(levels) else 0.0,
        "source_level_db_forward": float(np.median(levels)) if len(levels) else 0.0,
        "azimuth_coverage": coverage,
    }
    keep = np.ones(len(levels), dtype=bool)
    fit = None
    for _ in range(8):
        names = np.unique(shots[keep])
        dof = int(keep.sum()) - len(names) - 2
        if dof < 1:
            break
        centre_y = {n: levels[keep & (shots == n)].mean() for n in names}
        centre_x = {n: design[keep & (shots == n)].mean(axis=0) for n in names}
        y_all = levels - np.array([centre_y.get(n, np.nan) for n in shots])
        x_all = design - np.array([centre_x.get(n, (np.nan, np.nan)) for n in shots])
        gram = x_all[keep].T @ x_all[keep] + DIRECTIVITY_RIDGE * np.eye(2)
        coef = np.linalg.solve(gram, x_all[keep].T @ y_all[keep])
        residual = y_all - x_all @ coef  # NaN for shots with no kept level
        sigma = max(float(np.sqrt(np.sum(residual[keep] ** 2) / dof)), 0.5)
        fit = (coef, gram, sigma, centre_y, centre_x)
        kept = ~(residual < -TRIM_SIGMAS * sigma) & np.isfinite(residual)
        if np.array_equal(kept, keep):
            break
        keep = kept
    if fit is None:
        # Too few levels for a pattern: the mixing features about each shot's median level.
        medians = {n: np.median(levels[shots == n]) for n in np.unique(shots)}
        offsets = levels - np.array([medians[n] for n in shots])
        return {**neutral, **mixed_bang_features(residuals=offsets)}
    coef, gram, sigma, centre_y, centre_x = fit
    amplitude = float(np.hypot(*coef))
    standard_error = sigma * math.sqrt(float(np.trace(np.linalg.inv(gram))) / 2.0)
    # The on-axis level: each shot's intercept (its mean kept level less the fitted cosine
    # at its mean sensor direction) plus the amplitude.
    intercepts = [float(centre_y[n] - centre_x[n] @ coef) for n in centre_y]
    # Every level against the final fit, the trimmed ones too (a shot with no kept level
    # has no intercept and is left out).
    y_all = levels - np.array([centre_y.get(n, np.nan) for n in shots])
    x_all = design - np.array([centre_x.get(n, (np.nan, np.nan)) for n in shots])
    residuals = y_all - x_all @ coef
    return {
        "directivity_db": 2.0 * amplitude,
        "directivity_z": amplitude / standard_error,
        "level_fit_residual_db": sigma,
        "source_level_db_forward": float(np.median(intercepts)) + amplitude,
        "azimuth_coverage": coverage,
        **mixed_bang_features(residuals=residuals[np.isfinite(residuals)]),
    }


def mixed_bang_features(*, residuals: np.ndarray) -> dict[str, float]:
    """How far the back-computed levels stray from the radiation fit, robustly.

    Pulses of one muzzle blast agree with its fit within ~2 dB, apart from the ~20% of
    sensors whose sight line is blocked (several dB low). Pulses of different bangs bundled
    into one located "shot" (a fireworks night: firecrackers tens of ms apart, overlapping
    sources) were emitted at other places and levels, so back-computed to the located
    source they scatter widely, both ways. The median absolute deviation (x 1.4826, a
    standard deviation for normal scatter) ignores a blocked minority, and the 90th
    percentile catches sensors much *louder* than the fit, which diffraction never makes.
    """
    residuals = np.asarray(residuals, dtype=float)
    if len(residuals) < 2:
        return {"level_residual_mad_db": 0.0, "level_residual_p90_db": 0.0}
    centre = float(np.median(residuals))
    return {
        "level_residual_mad_db": 1.4826 * float(np.median(np.abs(residuals - centre))),
        "level_residual_p90_db": float(np.percentile(residuals, 90)),
    }


def _vector(
    features: Mapping[str, float],
    *,
    where: str = "incident",
    names: tuple[str, ...] = INCIDENT_FEATURE_NAMES,
) -> np.ndarray:
    """The values of `names` (a model's features) in order; other known names are ignored."""
    if not isinstance(features, Mapping):
        raise ClassifierError(f"{where}: features must be a mapping of name -> number")
    unknown = sorted(set(features) - set(INCIDENT_FEATURE_NAMES))
    if unknown:
        raise ClassifierError(f"{where}: unknown feature name(s) {unknown}")
    missing = [name for name in names if name not in features]
    if missing:
        raise ClassifierError(f"{where}: missing feature(s) {missing}")
    values = []
    for name in names:
        value = features[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ClassifierError(f"{where}: feature {name} must be a number, got {value!r}")
        number = finite_float(value)
        if number is None:
            raise ClassifierError(f"{where}: feature {name} is not finite ({value!r})")
        values.append(math.log1p(max(number, 0.0)) if name in _LOG_FEATURES else number)
    return np.array(values)


def _expand(z: np.ndarray) -> np.ndarray:
    """Standardised features plus their squares (lets a linear model draw curved borders)."""
    return np.hstack([z, z**2])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


# The feature lists an artifact may use: v1-v3 the first 31, v4 the first 38, v5 all.
KNOWN_FEATURE_SETS = (
    INCIDENT_FEATURE_NAMES_V1,
    INCIDENT_FEATURE_NAMES_V4,
    INCIDENT_FEATURE_NAMES,
)
LOGISTIC = "logistic"  # multinomial logistic regression on standardised + squared features
BOOSTED_TREES = "boosted_trees"  # gradient-boosted regression trees, softmax over classes
MODEL_KINDS = (LOGISTIC, BOOSTED_TREES)


@dataclass
class Tree:
    """One regression tree of a boosted model: node arrays, leaves have feature -1."""

    class_index: int
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray

    def apply(self, matrix: np.ndarray) -> np.ndarray:
        node = np.zeros(len(matrix), dtype=int)
        rows = np.arange(len(matrix))
        while True:
            feature = self.feature[node]
            inner = feature >= 0
            if not inner.any():
                return self.value[node]
            column = np.where(inner, feature, 0)
            go_left = matrix[rows, column] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)

    def to_json(self) -> dict:
        return {
            "class": self.class_index,
            "feature": self.feature.tolist(),
            "threshold": self.threshold.tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": self.value.tolist(),
        }

    @classmethod
    def from_json(cls, record: dict, *, n_features: int) -> Tree:
        tree = cls(
            class_index=int(record["class"]),
            feature=np.array(record["feature"], dtype=int),
            threshold=np.array(record["threshold"], dtype=float),
            left=np.array(record["left"], dtype=int),
            right=np.array(record["right"], dtype=int),
            value=np.array(record["value"], dtype=float),
        )
        n = len(tree.feature)
        arrays = (tree.threshold, tree.left, tree.right, tree.value)
        inner = tree.feature >= 0
        if (
            n == 0
            or any(a.shape != (n,) for a in arrays)
            or not 0 <= tree.class_index < len(CLASSES)
            or np.any(tree.feature >= n_features)
            or not np.all(np.isfinite(tree.threshold))
            or not np.all(np.isfinite(tree.value))
            # children come after their parent: the walk always ends at a leaf
            or np.any(inner & ((tree.left <= np.arange(n)) | (tree.left >= n)))
            or np.any(inner & ((tree.right <= np.arange(n)) | (tree.right >= n)))
        ):
            raise ValueError("a tree's node arrays are inconsistent")
        return tree


@dataclass
class Model:
    version: int
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (n_expanded, n_classes); logistic models
    bias: np.ndarray  # (n_classes,): the logits' offset (boosted models: the starting logits)
    created: str = ""
    training_set: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    classes: tuple[str, ...] = CLASSES
    feature_names: tuple[str, ...] = INCIDENT_FEATURE_NAMES
    # Gunfire when P(gunfire) >= this; None: the likeliest class (artifacts v1 and v2).
    gunfire_threshold: float | None = None
    kind: str = LOGISTIC
    trees: list[Tree] = field(default_factory=list)  # boosted models

    def decide_many(self, probabilities: np.ndarray) -> list[str]:
        """The machine's class for each row of class probabilities."""
        return decide(probabilities, gunfire_threshold=self.gunfire_threshold)

    def decide(self, probabilities: Mapping[str, float]) -> str:
        row = np.array([[float(probabilities[name]) for name in self.classes]])
        return self.decide_many(row)[0]

    def predict_many(self, rows: Iterable[Mapping[str, float]]) -> list[str]:
        return self.decide_many(self.probabilities_many(rows))

    def matrix(self, rows: Iterable[Mapping[str, float]]) -> np.ndarray:
        """The model's input: its features, in its order, log-scaled where heavy-tailed."""
        vectors = [
            _vector(r, where=f"incident {i}", names=self.feature_names) for i, r in enumerate(rows)
        ]
        return np.array(vectors).reshape(len(vectors), len(self.feature_names))

    def probabilities_many(self, rows: Iterable[Mapping[str, float]]) -> np.ndarray:
        return self.probabilities_of_matrix(self.matrix(rows))

    def probabilities_of_matrix(self, matrix: np.ndarray) -> np.ndarray:
        if len(matrix) == 0:
            return np.zeros((0, len(self.classes)))
        if self.kind == BOOSTED_TREES:
            logits = np.tile(self.bias, (len(matrix), 1))
            for tree in self.trees:
                logits[:, tree.class_index] += tree.apply(matrix)
            return _softmax(logits)
        z = np.clip((matrix - self.mean) / self.scale, -8.0, 8.0)
        return _softmax(_expand(z) @ self.weights + self.bias)

    def probabilities(self, features: Mapping[str, float]) -> dict[str, float]:
        row = self.probabilities_many([features])[0]
        return {name: float(p) for name, p in zip(self.classes, row, strict=True)}

    def to_json(self) -> dict:
        record = {
            "format": ARTIFACT_FORMAT,
            "version": self.version,
            "created": self.created,
            "training_set": self.training_set,
            "evaluation": self.evaluation,
            "classes": list(self.classes),
            "feature_names": list(self.feature_names),
            "log_features": sorted(_LOG_FEATURES & set(self.feature_names)),
        }
        if self.kind == BOOSTED_TREES:
            record |= {
                "model": BOOSTED_TREES,
                "bias": self.bias.tolist(),
                "trees": [tree.to_json() for tree in self.trees],
            }
        else:
            record |= {
                "expansion": "standardised + squared",
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
                "weights": self.weights.tolist(),
                "bias": self.bias.tolist(),
            }
        if self.gunfire_threshold is not None:
            record["decision"] = {"gunfire_threshold": self.gunfire_threshold}
        return record

    @classmethod
    def from_json(cls, record: dict, *, where: str = "artifact") -> Model:
        if not isinstance(record, dict) or record.get("format") != ARTIFACT_FORMAT:
            raise ClassifierError(f"{where}: not an {ARTIFACT_FORMAT} artifact")
        names = tuple(record.get("feature_names", ()))
        if names not in KNOWN_FEATURE_SETS:
            raise ClassifierError(f"{where}: feature names differ from this code's; retrain")
        if tuple(record.get("classes", ())) != CLASSES:
            raise ClassifierError(f"{where}: classes differ from this code's; retrain")
        kind = record.get("model", LOGISTIC)
        if kind not in MODEL_KINDS:
            raise ClassifierError(f"{where}: unknown model kind {kind!r}")
        n, k = len(names), len(CLASSES)
        try:
            boosted = kind == BOOSTED_TREES
            model = cls(
                version=int(record["version"]),
                mean=np.zeros(n) if boosted else np.array(record["mean"], dtype=float),
                scale=np.ones(n) if boosted else np.array(record["scale"], dtype=float),
                weights=(
                    np.zeros((2 * n, k)) if boosted else np.array(record["weights"], dtype=float)
                ),
                bias=np.array(record["bias"], dtype=float),
                created=str(record.get("created", "")),
                training_set=dict(record.get("training_set", {})),
                evaluation=dict(record.get("evaluation", {})),
                feature_names=names,
                gunfire_threshold=_threshold(record.get("decision")),
                kind=kind,
                trees=(
                    [Tree.from_json(t, n_features=n) for t in record["trees"]] if boosted else []
                ),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ClassifierError(f"{where}: malformed artifact ({error})") from None
        shapes_ok = (
            model.mean.shape == (n,)
            and model.scale.shape == (n,)
            and model.weights.shape == (2 * n, k)
            and model.bias.shape == (k,)
            and (not boosted or len(model.trees) > 0)
        )
        if not shapes_ok or not all(
            np.all(np.isfinite(a)) for a in (model.mean, model.scale, model.weights, model.bias)
        ):
            raise ClassifierError(f"{where}: weights have the wrong shape or are not finite")
        return model


def _threshold(decision) -> float | None:
    if decision is None:
        return None
    value = float(decision["gunfire_threshold"])
    if not 0.0 < value < 1.0:
        raise ValueError(f"gunfire_threshold {value} is outside (0, 1)")
    return value


def decide(probabilities: np.ndarray, *, gunfire_threshold: float | None) -> list[str]:
    """Class per row: gunfire iff P(gunfire) >= the threshold, else the likeliest other.

    Without a threshold, the likeliest class.
    """
    probabilities = np.asarray(probabilities, dtype=float)
    if gunfire_threshold is None:
        return [CLASSES[i] for i in probabilities.argmax(axis=1)]
    gun = CLASSES.index("gunfire")
    others = probabilities.copy()
    others[:, gun] = -1.0
    return [
        "gunfire" if row[gun] >= gunfire_threshold else CLASSES[int(np.argmax(rest))]
        for row, rest in zip(probabilities, others, strict=True)
    ]


@dataclass(frozen=True)
class BoostingOptions:
    """Gradient boosting of depth-limited regression trees on the softmax loss."""

    rounds: int = 150
    learning_rate: float = 0.1
    depth: int = 3
    l2: float = 1.0  # on leaf values (Newton step -G / (H + l2))
    min_child_weight: float = 2.0  # least summed hessian in a leaf
    subsample: float = 0.8  # rows drawn (without replacement) for each round
    bins: int = 32  # candidate thresholds per feature: training quantiles
    seed: int = 0


def train(
    *,
    examples: list[tuple[Mapping[str, float], str]],
    version: int = 1,
    l2: float = 1e-2,
    training_set: dict | None = None,
    feature_names: tuple[str, ...] = INCIDENT_FEATURE_NAMES,
    kind: str = LOGISTIC,
    boosting: BoostingOptions | None = None,
) -> Model:
    """Fit the model on (incident features, label) pairs; classes are weighted equally.

    kind LOGISTIC: multinomial logistic regression with penalty l2; BOOSTED_TREES:
    gradient-boosted trees (`boosting`, l2 unused).
    """
    if not examples:
        raise ClassifierError("no labelled incidents to train on")
    if tuple(feature_names) not in KNOWN_FEATURE_SETS:
        raise ClassifierError("feature_names must be one of KNOWN_FEATURE_SETS")
    if kind not in MODEL_KINDS:
        raise ClassifierError(f"unknown model kind {kind!r}; use one of {MODEL_KINDS}")
    labels = []
    for index, (_, label) in enumerate(examples):
        if label not in CLASSES:
            raise ClassifierError(f"example {index}: unknown label {label!r}; use one of {CLASSES}")
        labels.append(CLASSES.index(label))
    matrix = np.array(
        [_vector(f, where=f"example {i}", names=feature_names) for i, (f, _) in enumerate(examples)]
    )
    y = np.array(labels)
    present = np.unique(y)
    if len(present) < 2:
        raise ClassifierError("training needs examples of at least two classes")
    k = len(CLASSES)
    counts = np.bincount(y, minlength=k).astype(float)
    sample_weight = len(y) / (len(present) * counts[y])
    counts_by_class = {c: int(counts[i]) for i, c in enumerate(CLASSES)}
    common = dict(
        version=version,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        training_set={**(training_set or {}), "incidents_per_class": counts_by_class},
        feature_names=tuple(feature_names),
    )
    if kind == BOOSTED_TREES:
        options = boosting or BoostingOptions()
        bias, trees = _boost(matrix, y, sample_weight, present=present, options=options)
        d = len(feature_names)
        return Model(
            mean=np.zeros(d),
            scale=np.ones(d),
            weights=np.zeros((2 * d, k)),
            bias=bias,
            kind=BOOSTED_TREES,
            trees=trees,
            **common,
        )
    mean = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = _expand(np.clip((matrix - mean) / scale, -8.0, 8.0))
    n, d = x.shape
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
    return Model(
        mean=mean,
        scale=scale,
        weights=theta[: d * k].reshape(d, k),
        bias=theta[d * k :],
        **common,
    )


def _boost(
    matrix: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    *,
    present: np.ndarray,
    options: BoostingOptions,
) -> tuple[np.ndarray, list[Tree]]:
    """(starting logits, trees) of softmax gradient boosting with histogram split search."""
    n, d = matrix.shape
    k = len(CLASSES)
    rng = np.random.default_rng(options.seed)
    # Candidate thresholds: the training quantiles of each feature.
    edges = []
    binned = np.zeros((n, d), dtype=np.int64)
    for j in range(d):
        quantiles = np.quantile(matrix[:, j], np.linspace(0, 1, options.bins + 1)[1:-1])
        cuts = np.unique(quantiles)
        edges.append(cuts)
        binned[:, j] = np.searchsorted(cuts, matrix[:, j], side="left")
    n_bins = options.bins
    offsets = np.arange(d) * n_bins
    # Classes absent from the training data start (and stay) very unlikely.
    bias = np.full(k, -10.0)
    bias[present] = 0.0
    logits = np.tile(bias, (n, 1))
    onehot = np.eye(k)[y]
    trees: list[Tree] = []
    for _ in range(options.rounds):
        p = _softmax(logits)
        rows = np.sort(rng.choice(n, size=max(int(options.subsample * n), 2), replace=False))
        for c in present:
            grad = weight * (p[:, c] - onehot[:, c])
            hess = np.maximum(weight * p[:, c] * (1.0 - p[:, c]), 1e-6)
            tree = _grow_tree(
                binned, edges, grad, hess, rows, offsets, n_bins, options=options, class_index=c
            )
            logits[:, c] += tree.apply(matrix)
            trees.append(tree)
    return bias, trees


def _grow_tree(binned, edges, grad, hess, rows, offsets, n_bins, *, options, class_index) -> Tree:
    d = binned.shape[1]
    feature, threshold, left, right, value = [], [], [], [], []

    def leaf_value(idx):
        return -options.learning_rate * grad[idx].sum() / (hess[idx].sum() + options.l2)

    def add_node() -> int:
        for array in (feature, threshold, left, right, value):
            array.append(-1 if array is not threshold and array is not value else 0.0)
        return len(feature) - 1

    def split(idx: np.ndarray, depth: int) -> int:
        node = add_node()
        value[node] = float(leaf_value(idx))
        if depth >= options.depth or len(idx) < 2:
            return node
        flat = (binned[idx] + offsets).ravel()
        g = np.bincount(flat, np.repeat(grad[idx], d), minlength=d * n_bins).reshape(d, n_bins)
        h = np.bincount(flat, np.repeat(hess[idx], d), minlength=d * n_bins).reshape(d, n_bins)
        g_left, h_left = np.cumsum(g, axis=1), np.cumsum(h, axis=1)
        g_all, h_all = g_left[:, -1:], h_left[:, -1:]
        g_right, h_right = g_all - g_left, h_all - h_left
        lam = options.l2
        gain = g_left**2 / (h_left + lam) + g_right**2 / (h_right + lam) - g_all**2 / (h_all + lam)
        valid = (h_left >= options.min_child_weight) & (h_right >= options.min_child_weight)
        # A split "bin <= b" needs a real threshold: b indexes the feature's cut list.
        valid &= np.arange(n_bins)[None, :] < np.array([len(e) for e in edges])[:, None]
        gain = np.where(valid, gain, -np.inf)
        j, b = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if not np.isfinite(gain[j, b]) or gain[j, b] <= 1e-12:
            return node
        goes_left = binned[idx, j] <= b
        feature[node], threshold[node] = int(j), float(edges[j][b])
        left[node] = split(idx[goes_left], depth + 1)
        right[node] = split(idx[~goes_left], depth + 1)
        return node

    split(rows, 0)
    return Tree(
        class_index=int(class_index),
        feature=np.array(feature, dtype=int),
        threshold=np.array(threshold, dtype=float),
        left=np.array(left, dtype=int),
        right=np.array(right, dtype=int),
        value=np.array(value, dtype=float),
    )


def evaluate(model: Model, examples: list[tuple[Mapping[str, float], str]]) -> dict:
    """Per-class precision/recall and the share of each class called gunfire."""
    if not examples:
        raise ClassifierError("no examples to evaluate")
    predicted = model.predict_many([f for f, _ in examples])
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
        if finite_float(value) is None:
            raise ClassifierError(f"probability of {name} is not a finite number: {value!r}")
        if not -1e-9 <= value <= 1 + 1e-9:
            raise ClassifierError(f"probability of {name} is outside [0, 1]: {value}")
        values.append(value)
    explosive = sum(v for n, v in probabilities.items() if n in EXPLOSIVE_LIKE)
    return explosive > sum(values) - explosive


def artifact_path(version: int, *, directory: Path = ARTIFACT_DIR) -> Path:
    return Path(directory) / f"incident_classifier_v{version:03d}.json"


def find_artifact(version: int) -> Path:
    """An installed artifact's path, or a candidate's when only a candidate has it."""
    installed = artifact_path(version)
    candidate = artifact_path(version, directory=CANDIDATE_DIR)
    return candidate if not installed.exists() and candidate.exists() else installed


def installed_versions(directory: Path = ARTIFACT_DIR) -> list[int]:
    versions = []
    for path in Path(directory).glob("incident_classifier_v*.json"):
        stem = path.stem.rsplit("_v", 1)[-1]
        if stem.isdigit():
            versions.append(int(stem))
    return sorted(versions)


def next_version(directory: Path = ARTIFACT_DIR) -> int:
    """The version a newly trained model gets in ``directory``: one past every version used
    there, installed or kept as a candidate (``candidates/``); numbers are never reused."""
    directory = Path(directory)
    versions = installed_versions(directory) + installed_versions(directory / "candidates")
    return max(versions, default=0) + 1


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
THRESHOLD_CANDIDATES = tuple(round(0.05 * i, 2) for i in range(4, 20))  # 0.20 ... 0.95
CONFUSERS = ("firework", "backfire", "construction")
# The target allows 2% of each confuser class called gunfire; the operating point is chosen
# for half of that on the training folds, leaving room for sampling error and for the
# shift from training incidents to what the live association delivers.
FALSE_GUNFIRE_BUDGET = 0.01


def clopper_pearson(k: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """One-sided exact binomial bounds (lower, upper) on a rate seen as k of n."""
    from scipy.stats import beta

    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    alpha = 1.0 - confidence
    lower = 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))
    upper = 1.0 if k == n else float(beta.ppf(1.0 - alpha, k + 1, n - k))
    return lower, upper


def fold_of_examples(n: int, *, folds: int, groups: list[str] | None = None) -> np.ndarray:
    """Fold number per example: round robin, or by group so that related examples (the
    incidents of one scenario, seen truth-grouped and through the association) share one."""
    if groups is None:
        return np.arange(n) % folds
    if len(groups) != n:
        raise ClassifierError(f"{len(groups)} groups for {n} examples")
    index = {g: i for i, g in enumerate(sorted(set(groups)))}
    return np.array([index[g] % folds for g in groups])


def cross_validated_probabilities(
    examples: list[tuple[Mapping[str, float], str]],
    *,
    l2: float,
    folds: int = 5,
    groups: list[str] | None = None,
    **train_options,
) -> np.ndarray:
    """Out-of-fold class probabilities: each example scored by a model that never saw it
    (nor, with groups, anything of its group). train_options go to `train`."""
    probabilities = np.zeros((len(examples), len(CLASSES)))
    fold_of = fold_of_examples(len(examples), folds=folds, groups=groups)
    for fold in range(folds):
        held = [i for i in range(len(examples)) if fold_of[i] == fold]
        kept = [examples[i] for i in range(len(examples)) if fold_of[i] != fold]
        if not held:
            continue
        model = train(examples=kept, l2=l2, **train_options)
        probabilities[held] = model.probabilities_many([examples[i][0] for i in held])
    return probabilities


def operating_point_scores(
    probabilities: np.ndarray, labels: list[str], *, gunfire_threshold: float | None
) -> dict:
    """Gunfire recall and, per confuser class, the share called gunfire."""
    predicted = np.array(decide(probabilities, gunfire_threshold=gunfire_threshold))
    truth = np.array(labels)
    called = predicted == "gunfire"
    gunfire = truth == "gunfire"
    return {
        "gunfire_recall": float(called[gunfire].mean()) if gunfire.any() else None,
        **{
            f"{name}_called_gunfire": float(called[truth == name].mean())
            if (truth == name).any()
            else None
            for name in CONFUSERS
        },
    }


def choose_gunfire_threshold(
    probabilities: np.ndarray,
    labels: list[str],
    *,
    max_false_gunfire: float = FALSE_GUNFIRE_BUDGET,
    candidates: tuple[float, ...] = THRESHOLD_CANDIDATES,
) -> tuple[float, dict]:
    """The P(gunfire) threshold with the best gunfire recall among those whose share of
    every confuser class called gunfire is within max_false_gunfire; of several with that
    recall, the highest (the widest margin against confusers at no cost in recall). If no
    threshold keeps the budget, the one with the smallest worst share. Use out-of-fold
    probabilities of training data only."""
    scores = {
        t: operating_point_scores(probabilities, labels, gunfire_threshold=t) for t in candidates
    }

    def worst(t: float) -> float:
        shares = [scores[t][f"{name}_called_gunfire"] for name in CONFUSERS]
        return max((s for s in shares if s is not None), default=0.0)

    eligible = [t for t in candidates if worst(t) <= max_false_gunfire]
    if not eligible:
        return min(candidates, key=lambda t: (worst(t), t)), scores
    recall = {t: scores[t]["gunfire_recall"] or 0.0 for t in eligible}
    top = max(recall.values())
    return max(t for t in eligible if recall[t] >= top - 1e-12), scores


def select_operating_point(
    examples: list[tuple[Mapping[str, float], str]],
    *,
    folds: int = 5,
    l2_candidates: tuple[float, ...] = L2_CANDIDATES,
    max_false_gunfire: float = FALSE_GUNFIRE_BUDGET,
    groups: list[str] | None = None,
    operating_rows: list[bool] | None = None,
    **train_options,
) -> tuple[float, float, dict]:
    """(L2 penalty, gunfire threshold, cross-validation scores) from the training data only.

    For each penalty the threshold is chosen on out-of-fold probabilities
    (choose_gunfire_threshold; folds by group when groups are given); the penalty whose
    operating point keeps the false-gunfire budget with the best gunfire recall wins, ties
    going to the stronger penalty. With operating_rows, the threshold and the scores use
    only the out-of-fold probabilities of those examples (e.g. the incidents the live
    association made), while every example trains. train_options go to `train` (for
    boosted trees give one dummy l2 candidate).
    """
    labels = [label for _, label in examples]
    if "gunfire" not in labels or not set(CONFUSERS) & set(labels):
        raise ClassifierError("cross-validation needs gunfire and confuser examples")
    rows = np.ones(len(examples), dtype=bool)
    if operating_rows is not None:
        if len(operating_rows) != len(examples):
            raise ClassifierError(f"{len(operating_rows)} operating rows for {len(examples)}")
        rows = np.array(operating_rows, dtype=bool)
    scored = [label for label, keep in zip(labels, rows, strict=True) if keep]
    if "gunfire" not in scored or not set(CONFUSERS) & set(scored):
        raise ClassifierError("the operating rows need gunfire and confuser examples")
    results = {}
    for l2 in l2_candidates:
        probabilities = cross_validated_probabilities(
            examples, l2=l2, folds=folds, groups=groups, **train_options
        )[rows]
        threshold, _ = choose_gunfire_threshold(
            probabilities, scored, max_false_gunfire=max_false_gunfire
        )
        point = operating_point_scores(probabilities, scored, gunfire_threshold=threshold)
        worst = max((point[f"{c}_called_gunfire"] or 0.0) for c in CONFUSERS)
        results[l2] = {"gunfire_threshold": threshold, **point, "worst_called_gunfire": worst}
    eligible = [
        l2 for l2 in l2_candidates if results[l2]["worst_called_gunfire"] <= max_false_gunfire
    ]
    if eligible:
        best = max(eligible, key=lambda l2: (results[l2]["gunfire_recall"], l2))
    else:
        best = min(l2_candidates, key=lambda l2: (results[l2]["worst_called_gunfire"], -l2))
    return best, results[best]["gunfire_threshold"], results
