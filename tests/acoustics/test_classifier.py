"""Incident classifier: features, artifact, decisions on held-out generated data."""

import json
import math

import numpy as np
import pytest

from apps.acoustics import classifier
from apps.acoustics.classifier import (
    INCIDENT_FEATURE_NAMES,
    ClassifierError,
    Model,
    evaluate,
    incident_features,
    is_explosive_like,
    load_model,
    train,
)
from apps.acoustics.generator import generate_scenario
from apps.acoustics.generator.labelled import feature_set, incident_record, labelled_incidents
from apps.acoustics.incidents import Incident, bundle
from apps.acoustics.types import LocatedShot, Pulse


@pytest.fixture(scope="module")
def small_set():
    """Labelled incidents from a handful of quick scenarios (seeds used nowhere else)."""
    items = []
    for kind in ("single_shot", "backfire", "other", "construction"):
        for seed in (7001, 7002, 7003):
            items += labelled_incidents(generate_scenario(kind=kind, seed=seed), seed=seed)
    return items


def test_incident_features_have_stable_names_and_plausible_source_level(small_set):
    gunfire = [item for item in small_set if item.label == "gunfire"]
    assert gunfire
    for item in small_set:
        features = item.features()
        assert tuple(features) == INCIDENT_FEATURE_NAMES
        assert all(math.isfinite(v) for v in features.values())
    # Muzzle blasts are generated at 150-168 dB peak at 1 m, reduced by directivity.
    levels = [item.features()["source_level_db_median"] for item in gunfire]
    assert all(135 < level < 172 for level in levels)


def test_artifact_round_trip_gives_identical_probabilities(small_set, tmp_path):
    examples = [(item.features(), item.label) for item in small_set]
    model = train(examples=examples, version=3, training_set={"note": "test"})
    path = classifier.save_model(model, directory=tmp_path)
    assert path.name == "incident_classifier_v003.json"
    loaded = load_model(directory=tmp_path)
    assert loaded.version == 3
    rows = [f for f, _ in examples]
    assert np.allclose(loaded.probabilities_many(rows), model.probabilities_many(rows))
    probabilities = loaded.probabilities(rows[0])
    assert set(probabilities) == set(classifier.CLASSES)
    assert sum(probabilities.values()) == pytest.approx(1.0)
    with pytest.raises(ClassifierError, match="immutable"):
        classifier.save_model(model, directory=tmp_path)


def test_tampered_or_foreign_artifacts_are_rejected(small_set, tmp_path):
    model = train(examples=[(i.features(), i.label) for i in small_set], version=1)
    record = model.to_json()
    record["weights"] = record["weights"][:-1]
    (tmp_path / "bad.json").write_text(json.dumps(record))
    with pytest.raises(ClassifierError, match="shape"):
        load_model(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ClassifierError, match="not an"):
        load_model(tmp_path / "other.json")
    with pytest.raises(ClassifierError, match="no classifier artifact"):
        load_model(directory=tmp_path / "empty")
    renamed = model.to_json()
    renamed["feature_names"] = list(reversed(renamed["feature_names"]))
    with pytest.raises(ClassifierError, match="feature names"):
        Model.from_json(renamed)


def test_bad_features_give_clear_errors(small_set):
    model = train(examples=[(i.features(), i.label) for i in small_set], version=1)
    good = small_set[0].features()
    with pytest.raises(ClassifierError, match="unknown feature"):
        model.probabilities({**good, "loudness": 3.0})
    with pytest.raises(ClassifierError, match="missing"):
        model.probabilities({k: v for k, v in good.items() if k != "log_rounds"})
    with pytest.raises(ClassifierError, match="not finite"):
        model.probabilities({**good, "cadence_rpm": float("nan")})
    with pytest.raises(ClassifierError, match="unknown label"):
        train(examples=[(good, "thunder")])
    with pytest.raises(ClassifierError, match="no labelled"):
        train(examples=[])


def _shot(uuids):
    return LocatedShot(
        t_emit=0.0,
        x=0.0,
        y=0.0,
        z=None,
        pulse_uuids=tuple(uuids),
        sensor_ids=tuple(uuids),
        residual_rms_s=0.0,
        cov_xy=((9.0, 0.0), (0.0, 9.0)),
        ellipse95_major_m=7.3,
        ellipse95_minor_m=7.3,
        ellipse95_azimuth_deg=0.0,
    )


def test_empty_incidents_nan_and_unknown_pulse_features_are_rejected(small_set):
    with pytest.raises(ClassifierError, match="at least one"):
        incident_features(incident=Incident((), (), 0, None, None, False), pulses={})
    item = small_set[0]
    pulse = next(iter(item.pulses.values()))
    features = dict(pulse.features["features"])
    (incident,) = bundle([_shot([pulse.pulse_uuid])])
    broken = Pulse(
        pulse.pulse_uuid,
        pulse.sensor_id,
        pulse.t,
        pulse.x,
        pulse.y,
        pulse.z,
        features={"features": {**features, "rise_time_ms": float("nan")}},
    )
    with pytest.raises(ValueError, match="not finite"):
        incident_features(incident=incident, pulses={pulse.pulse_uuid: broken})
    odd = Pulse(
        pulse.pulse_uuid,
        pulse.sensor_id,
        pulse.t,
        pulse.x,
        pulse.y,
        pulse.z,
        features={"features": {**features, "colour": 1.0}},
    )
    with pytest.raises(ValueError, match="unknown feature"):
        incident_features(incident=incident, pulses={pulse.pulse_uuid: odd})
    with pytest.raises(ClassifierError, match="not supplied"):
        incident_features(incident=incident, pulses={})


def test_labelled_record_round_trip_gives_the_same_features(small_set):
    item = small_set[0]
    record = json.loads(json.dumps(incident_record(item)))
    features, label = classifier.labelled_example(record)
    assert label == item.label
    expected = item.features()
    for name in INCIDENT_FEATURE_NAMES:
        assert features[name] == pytest.approx(expected[name], rel=1e-4, abs=1e-6), name
    with pytest.raises(ClassifierError, match="label"):
        classifier.labelled_example({**record, "label": "meteor"})
    with pytest.raises(ClassifierError, match="shots"):
        classifier.labelled_example({"label": "other", "shots": [], "pulses": []})


def test_is_explosive_like():
    assert is_explosive_like({"gunfire": 0.3, "firework": 0.3, "construction": 0.4})
    assert not is_explosive_like({"gunfire": 0.2, "construction": 0.5, "other": 0.3})
    assert is_explosive_like({"backfire": 0.9, "other": 0.1})
    with pytest.raises(ClassifierError, match="unknown class"):
        is_explosive_like({"thunder": 1.0})
    with pytest.raises(ClassifierError, match="finite"):
        is_explosive_like({"gunfire": float("nan")})
    with pytest.raises(ClassifierError, match="non-empty"):
        is_explosive_like({})


@pytest.mark.slow
def test_installed_model_on_held_out_generated_incidents():
    """Scenario seeds 3000-3002 (x16) were never used in training (0-9) or testing (1000-1005).

    Bounds from model v1 (generator v1): gunfire recall 1.000 (27 incidents), confusers called
    gunfire 1/59 (1.7%), with room for one more miss in each; model v2 passes too.
    """
    model = load_model()
    rows = feature_set(seeds=range(3000, 3003), workers=2)
    report = evaluate(model, [(features, label) for features, label, _ in rows])
    assert report["gunfire"]["n"] >= 20
    assert report["gunfire"]["recall"] >= 26 / 27
    confusers = [report[name] for name in ("firework", "backfire", "construction")]
    called = sum(r["called_gunfire"] * r["n"] for r in confusers)
    assert called / sum(r["n"] for r in confusers) <= 0.035
