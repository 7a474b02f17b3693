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
    incident_features,
    is_explosive_like,
    load_model,
    train,
)
from apps.acoustics.generator import generate_scenario
from apps.acoustics.generator.labelled import incident_record, labelled_incidents
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


def test_clopper_pearson_bounds_match_closed_forms():
    # k = 0: the upper bound solves (1 - p)^n = alpha; k = n mirrors it.
    low, high = classifier.clopper_pearson(0, 300)
    assert low == 0.0
    assert high == pytest.approx(1 - 0.05 ** (1 / 300), rel=1e-9)
    low, high = classifier.clopper_pearson(300, 300)
    assert (low, high) == (pytest.approx(0.05 ** (1 / 300), rel=1e-9), 1.0)
    # k = 1 of 300: the bounds bracket 1/300 and a bigger sample narrows them.
    low, high = classifier.clopper_pearson(1, 300)
    assert low < 1 / 300 < high < 0.02
    assert classifier.clopper_pearson(10, 3000)[1] < classifier.clopper_pearson(1, 300)[1]
    with pytest.raises(ValueError):
        classifier.clopper_pearson(3, 2)


def test_gunfire_threshold_decides_and_survives_the_artifact(small_set, tmp_path):
    probabilities = np.array(
        [
            [0.55, 0.30, 0.05, 0.05, 0.05],  # likeliest gunfire but below 0.7: firework
            [0.72, 0.10, 0.10, 0.04, 0.04],  # gunfire
            [0.40, 0.05, 0.05, 0.45, 0.05],  # construction either way
        ]
    )
    assert classifier.decide(probabilities, gunfire_threshold=None) == [
        "gunfire",
        "gunfire",
        "construction",
    ]
    assert classifier.decide(probabilities, gunfire_threshold=0.7) == [
        "firework",
        "gunfire",
        "construction",
    ]
    assert classifier.decide(probabilities, gunfire_threshold=0.35) == [
        "gunfire",
        "gunfire",
        "gunfire",
    ]
    model = train(examples=[(i.features(), i.label) for i in small_set], version=4)
    model.gunfire_threshold = 0.7
    classifier.save_model(model, directory=tmp_path)
    loaded = load_model(directory=tmp_path)
    assert loaded.gunfire_threshold == 0.7
    rows = [i.features() for i in small_set]
    assert loaded.predict_many(rows) == model.predict_many(rows)
    record = model.to_json()
    record["decision"] = {"gunfire_threshold": 1.5}
    with pytest.raises(ClassifierError, match="malformed"):
        Model.from_json(record)


def test_older_artifacts_still_load_and_decide_by_the_likeliest_class():
    for version in (1, 2):
        model = load_model(classifier.artifact_path(version))
        assert model.version == version and model.gunfire_threshold is None
        row = {name: 1.0 for name in INCIDENT_FEATURE_NAMES}
        probabilities = model.probabilities(row)
        assert model.decide(probabilities) == max(probabilities, key=probabilities.get)


def test_threshold_is_the_lowest_that_keeps_each_confuser_class_within_budget():
    rng = np.random.default_rng(11)
    labels, rows = [], []
    # Gunfire mostly scores high; 3 of 200 fireworks score 0.6-0.8, backfire stays low.
    for label, n, low, high in (
        ("gunfire", 200, 0.5, 1.0),
        ("firework", 197, 0.0, 0.3),
        ("firework", 3, 0.6, 0.8),
        ("backfire", 200, 0.0, 0.45),
        ("construction", 100, 0.0, 0.2),
    ):
        for p in rng.uniform(low, high, n):
            rest = (1 - p) / 4
            rows.append([p, rest, rest, rest, rest])
            labels.append(label)
    probabilities = np.array(rows)
    threshold, scores = classifier.choose_gunfire_threshold(
        probabilities, labels, max_false_gunfire=0.01
    )
    # 3/200 fireworks = 1.5% above 0.6 would break a 1% budget; 1% allows 2 of them.
    fireworks = probabilities[np.array(labels) == "firework", 0]
    assert np.mean(fireworks >= threshold) <= 0.01
    lower = max(t for t in classifier.THRESHOLD_CANDIDATES if t < threshold)
    assert np.mean(fireworks >= lower) > 0.01
    assert scores[threshold]["gunfire_recall"] == pytest.approx(
        np.mean(probabilities[np.array(labels) == "gunfire", 0] >= threshold)
    )


# Scenario seeds used by no training set (those use seeds below 16 000) and not by the
# benchmark's held-out set (600 000 onwards): the incidents the real association and
# bundling make of them, as the pipeline classifies them.
LIVE_TEST_SCENARIOS = {
    "single_shot": range(700_000, 700_008),
    "semi_auto": range(700_000, 700_006),
    "automatic": range(700_000, 700_006),
    "fireworks": range(700_000, 700_005),
    "backfire": range(700_000, 700_010),
    "construction": range(700_000, 700_012),
}


def test_cross_validation_folds_keep_a_scenario_together():
    groups = ["a", "b", "a", "c", "b", "d", "e", "f", "a"]
    folds = classifier.fold_of_examples(len(groups), folds=3, groups=groups)
    for group in set(groups):
        assert len({int(f) for f, g in zip(folds, groups, strict=True) if g == group}) == 1
    assert set(folds.tolist()) == {0, 1, 2}
    assert classifier.fold_of_examples(5, folds=2).tolist() == [0, 1, 0, 1, 0]
    with pytest.raises(ClassifierError, match="groups"):
        classifier.fold_of_examples(3, folds=2, groups=["a"])


@pytest.mark.slow
def test_installed_model_on_live_chain_incidents_it_was_not_trained_on():
    """Measured with model v4 (boosted trees with the directivity features, gunfire iff
    P(gunfire) >= 0.75) on these seeds with the association of 425804f: 21 of 21 gunfire
    incidents called gunfire (automatic 7/7, semi-automatic 6/6, single 8/8), fireworks
    0/15, backfire 0/10, construction 0/11; v3 on the same incidents 17/21 and 0/36. The
    bounds leave room for two misses and one false call (the association may change).
    """
    from apps.acoustics.bench.classifier_heldout import evaluate_target
    from apps.acoustics.generator.associated import associated_feature_set

    model = load_model()
    assert model.gunfire_threshold is not None
    items = associated_feature_set(scenarios=LIVE_TEST_SCENARIOS, workers=2)
    result = evaluate_target(model, items)
    rows = result["classes"]
    assert rows["gunfire"]["n"] >= 18
    assert rows["gunfire"]["called_gunfire"] / rows["gunfire"]["n"] >= 0.88
    for name in classifier.CONFUSERS:
        assert rows[name]["n"] >= 8, name
    confusers_called = sum(rows[name]["called_gunfire"] for name in classifier.CONFUSERS)
    assert confusers_called <= 1


def test_directivity_fit_recovers_a_cardioid_and_finds_none_in_an_even_source():
    rng = np.random.default_rng(5)
    azimuths = rng.uniform(-math.pi, math.pi, 30)
    shots = np.repeat([0, 1, 2], 10)
    shot_level = np.array([150.0, 152.0, 149.0])[shots]
    facing = math.radians(40.0)
    noise = rng.normal(0.0, 1.5, 30)
    # 8 dB louder ahead than behind, as the generator's muzzle blasts (a cardioid in dB)
    muzzle = shot_level - 8.0 * (1 - np.cos(azimuths - facing)) / 2 + noise
    even = shot_level + noise
    gun = classifier.directivity_features(levels=muzzle, azimuths=azimuths, shots=shots)
    bang = classifier.directivity_features(levels=even, azimuths=azimuths, shots=shots)
    assert gun["directivity_db"] == pytest.approx(8.0, abs=2.0)
    assert gun["directivity_z"] > 4.0
    assert gun["source_level_db_forward"] == pytest.approx(150.0, abs=2.0)
    assert bang["directivity_db"] < 2.0 and bang["directivity_z"] < 2.5
    assert gun["level_fit_residual_db"] == pytest.approx(1.5, abs=0.6)
    assert 0.5 < gun["azimuth_coverage"] <= 1.0
    # too few sensors for a fit: neutral values, never an error
    few = classifier.directivity_features(
        levels=np.array([150.0, 140.0]), azimuths=np.array([0.0, 3.0]), shots=np.array([0, 0])
    )
    assert few["directivity_db"] == 0.0 and few["directivity_z"] == 0.0


def _xor_examples(n=300, seed=3):
    """Gunfire where two features agree in sign, firework where they differ: a border no
    linear model (nor one on squared features) draws, trees do."""
    rng = np.random.default_rng(seed)
    base = {name: 0.0 for name in INCIDENT_FEATURE_NAMES}
    examples = []
    for a, b in rng.normal(0, 1, (n, 2)):
        features = {**base, "directivity_db": float(a), "source_hi_lo_db": float(b)}
        examples.append((features, "gunfire" if a * b > 0 else "firework"))
    return examples


def test_boosted_trees_learn_an_interaction_and_survive_the_artifact(tmp_path):
    examples = _xor_examples()
    model = train(examples=examples, version=4, kind=classifier.BOOSTED_TREES)
    test = _xor_examples(seed=4)
    predicted = model.predict_many([f for f, _ in test])
    accuracy = np.mean([p == label for p, (_, label) in zip(predicted, test, strict=True)])
    assert accuracy > 0.85
    model.gunfire_threshold = 0.6
    classifier.save_model(model, directory=tmp_path)
    loaded = load_model(directory=tmp_path)
    assert loaded.kind == classifier.BOOSTED_TREES and loaded.gunfire_threshold == 0.6
    rows = [f for f, _ in test]
    assert np.allclose(loaded.probabilities_many(rows), model.probabilities_many(rows))
    record = model.to_json()
    record["trees"][0]["left"][0] = 0  # a node that points at itself would never end
    with pytest.raises(ClassifierError, match="malformed"):
        Model.from_json(record)
    record = model.to_json()
    record["trees"][0]["feature"][0] = len(INCIDENT_FEATURE_NAMES)
    with pytest.raises(ClassifierError, match="malformed"):
        Model.from_json(record)
    record = model.to_json()
    record["model"] = "forest"
    with pytest.raises(ClassifierError, match="unknown model kind"):
        Model.from_json(record)


def test_artifacts_on_the_first_features_decide_as_before_with_the_new_features(small_set):
    """v1-v3 use the first 31 features, v4 the first 38; the incident features now hold
    more, which those models ignore: their probabilities are those of their own alone."""
    rows = [item.features() for item in small_set]
    assert all(tuple(r) == INCIDENT_FEATURE_NAMES for r in rows)
    old_rows = [{n: r[n] for n in classifier.INCIDENT_FEATURE_NAMES_V1} for r in rows]
    for version in (1, 2, 3):
        model = load_model(classifier.artifact_path(version))
        assert model.feature_names == classifier.INCIDENT_FEATURE_NAMES_V1
        assert np.allclose(model.probabilities_many(rows), model.probabilities_many(old_rows))
    # v4 reads the first 38 (with directivity), not the level-scatter features of v5
    v4 = load_model(classifier.artifact_path(4))
    assert v4.feature_names == classifier.INCIDENT_FEATURE_NAMES_V4
    v4_rows = [{n: r[n] for n in classifier.INCIDENT_FEATURE_NAMES_V4} for r in rows]
    assert np.allclose(v4.probabilities_many(rows), v4.probabilities_many(v4_rows))
    with pytest.raises(ClassifierError, match="missing"):
        v4.probabilities(old_rows[0])
    # v5 (all features) was kept as a candidate: loadable by version, not the default
    v5 = load_model(classifier.find_artifact(5))
    assert v5.feature_names == INCIDENT_FEATURE_NAMES and v5.gunfire_threshold is not None
    assert v5.probabilities_many(rows).shape == (len(rows), len(classifier.CLASSES))
    assert load_model().version == 4 and 5 not in classifier.installed_versions()


def test_a_new_model_never_reuses_a_version_number_not_even_a_candidates(tmp_path):
    assert classifier.next_version(tmp_path) == 1
    (tmp_path / "candidates").mkdir()
    for version, directory in ((1, tmp_path), (3, tmp_path), (7, tmp_path / "candidates")):
        classifier.artifact_path(version, directory=directory).write_text("{}")
    assert classifier.next_version(tmp_path) == 8
    # The pipeline's own directory: v5 is only a candidate, and still taken.
    assert 5 in classifier.installed_versions(classifier.CANDIDATE_DIR)
    assert classifier.next_version() == 6


def test_directivity_fit_sets_aside_sensors_whose_sight_line_is_blocked():
    """Diffraction round a building only ever lowers a sensor's level: a fifth of the
    sensors 6-12 dB low must not flatten (or fake) the radiation pattern."""
    rng = np.random.default_rng(8)
    azimuths = rng.uniform(-math.pi, math.pi, 40)
    shots = np.zeros(40, dtype=int)
    blocked = np.where(rng.random(40) < 0.2, rng.uniform(6.0, 12.0, 40), 0.0)
    noise = rng.normal(0.0, 1.5, 40)
    muzzle = 150.0 - 6.0 * (1 - np.cos(azimuths)) / 2 + noise - blocked
    even = 150.0 + noise - blocked
    gun = classifier.directivity_features(levels=muzzle, azimuths=azimuths, shots=shots)
    bang = classifier.directivity_features(levels=even, azimuths=azimuths, shots=shots)
    assert gun["directivity_db"] == pytest.approx(6.0, abs=1.5)
    assert bang["directivity_db"] < 1.5
    assert gun["level_fit_residual_db"] < 2.5  # the blocked sensors are not in the fit


def test_levels_of_different_bangs_in_one_shot_stray_from_the_fit_and_a_muzzle_s_do_not():
    """A muzzle's back-computed levels follow its cardioid within ~1.5 dB, apart from a
    fifth of blocked sensors 6-12 dB low; a "shot" the association built of pulses from
    three firecrackers 7.5 dB apart (each sensor heard one of them) does not."""
    gun_p90, bangs_p90 = [], []
    for seed in range(11, 19):
        rng = np.random.default_rng(seed)
        azimuths = rng.uniform(-math.pi, math.pi, 40)
        shots = np.repeat(np.arange(4), 10)
        blocked = np.zeros(40)
        blocked[rng.choice(40, 8, replace=False)] = rng.uniform(6.0, 12.0, 8)  # a fifth
        noise = rng.normal(0.0, 1.5, 40)
        muzzle = 150.0 - 8.0 * (1 - np.cos(azimuths - 0.7)) / 2 + noise - blocked
        bang_of_pulse = rng.integers(0, 3, 40)
        mixed = 140.0 + np.array([0.0, 7.5, 15.0])[bang_of_pulse] + noise - blocked
        gun = classifier.directivity_features(levels=muzzle, azimuths=azimuths, shots=shots)
        bangs = classifier.directivity_features(levels=mixed, azimuths=azimuths, shots=shots)
        assert gun["level_residual_mad_db"] < 2.6 < 4.5 < bangs["level_residual_mad_db"]
        assert gun["level_residual_p90_db"] < 2.6 and bangs["level_residual_p90_db"] > 3.0
        gun_p90.append(gun["level_residual_p90_db"])
        bangs_p90.append(bangs["level_residual_p90_db"])
    # louder than the fit: never by diffraction, often when other bangs are mixed in
    assert np.median(gun_p90) < 1.5 and np.median(bangs_p90) > 4.0
    # the same measure about each shot's median when there are too few levels for a fit
    few = classifier.directivity_features(
        levels=np.array([150.0, 140.0, 146.0]),
        azimuths=np.array([0.0, 3.0, 1.0]),
        shots=np.array([0, 0, 0]),
    )
    assert few["directivity_db"] == 0.0
    assert few["level_residual_mad_db"] == pytest.approx(1.4826 * 4.0)
    assert few["level_residual_p90_db"] == pytest.approx(3.2)
    assert classifier.mixed_bang_features(residuals=np.array([3.0])) == {
        "level_residual_mad_db": 0.0,
        "level_residual_p90_db": 0.0,
    }


def test_of_thresholds_with_equal_recall_the_highest_is_chosen():
    # Gunfire scores 0.83 and 0.95, confusers <= 0.2: every threshold from 0.25 to 0.8 keeps all
    # gunfire and no confuser; the highest leaves the widest margin.
    probabilities, labels = [], []
    for label, p in (("gunfire", 0.83), ("gunfire", 0.95), ("firework", 0.1), ("backfire", 0.2)):
        rest = (1 - p) / 4
        probabilities.append([p, rest, rest, rest, rest])
        labels.append(label)
    threshold, scores = classifier.choose_gunfire_threshold(np.array(probabilities), labels)
    assert threshold == 0.8
    assert scores[threshold]["gunfire_recall"] == 1.0


def test_operating_point_can_be_chosen_on_a_subset_of_the_training_rows():
    rng = np.random.default_rng(2)
    examples, live = [], []
    for label, centre in (("gunfire", 2.0), ("firework", -1.0), ("backfire", -2.0)):
        for i in range(60):
            features = {name: 0.0 for name in INCIDENT_FEATURE_NAMES}
            features["directivity_db"] = float(rng.normal(centre, 1.0))
            examples.append((features, label))
            live.append(i % 2 == 0)
    groups = [f"s{i // 3}" for i in range(len(examples))]
    l2, threshold, results = classifier.select_operating_point(
        examples, l2_candidates=(1e-2,), groups=groups, operating_rows=live
    )
    assert l2 == 1e-2 and threshold in classifier.THRESHOLD_CANDIDATES
    assert results[l2]["firework_called_gunfire"] <= classifier.FALSE_GUNFIRE_BUDGET
    with pytest.raises(ClassifierError, match="operating rows"):
        classifier.select_operating_point(examples, operating_rows=[True])


def test_held_out_benchmark_takes_fresh_seeds_past_those_already_looked_at():
    from apps.acoustics.bench.classifier_heldout import HELD_OUT_SEED_BASE, parse_held_out

    scenarios = parse_held_out("fireworks=90:190, backfire=160")
    assert scenarios == {
        "fireworks": range(HELD_OUT_SEED_BASE + 90, HELD_OUT_SEED_BASE + 190),
        "backfire": range(HELD_OUT_SEED_BASE, HELD_OUT_SEED_BASE + 160),
    }
    for bad in ("fireworks=190:90", "rocket=3", "fireworks=ten", "", "backfire=0"):
        with pytest.raises(ValueError):
            parse_held_out(bad)
    # Training specs name seeds outright: START:STOP only, no base, no COUNT.
    from apps.acoustics.generator.associated import parse_scenarios

    assert parse_scenarios("fireworks=2000:2066") == {"fireworks": range(2000, 2066)}
    with pytest.raises(ValueError, match="kind=START:STOP"):
        parse_scenarios("fireworks=66")
