"""The train_acoustic_classifier command writes an artifact that loads."""

import json

import pytest
from django.core.management import CommandError, call_command

from apps.acoustics.classifier import CLASSES, load_model
from apps.acoustics.generator import generate_scenario
from apps.acoustics.generator.labelled import incident_record, labelled_incidents


@pytest.fixture(scope="module")
def incident_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("incidents")
    for kind in ("single_shot", "backfire", "other"):
        for seed in (8001, 8002, 8003):
            items = labelled_incidents(generate_scenario(kind=kind, seed=seed), seed=seed)
            records = [incident_record(item) for item in items]
            (folder / f"{kind}_{seed}.json").write_text(json.dumps(records))
    return folder


def test_train_from_labelled_incidents_writes_a_loadable_artifact(incident_folder, tmp_path):
    out = []
    call_command(
        "train_acoustic_classifier",
        "--incidents",
        str(incident_folder),
        "--artifact-dir",
        str(tmp_path),
        stdout=_Lines(out),
    )
    text = "".join(out)
    assert "precision" in text and "wrote" in text
    model = load_model(directory=tmp_path)
    assert model.version == 1
    assert model.training_set["source"] == "labelled incidents"
    assert set(model.evaluation["per_class"]) == set(CLASSES)
    # The operating point was chosen by cross-validation and travels with the artifact.
    assert 0 < model.gunfire_threshold < 1
    assert "cross_validation" in model.training_set
    assert f"gunfire threshold {model.gunfire_threshold:g}" in text
    # The next run writes the next version, leaving the first untouched.
    call_command(
        "train_acoustic_classifier",
        "--incidents",
        str(incident_folder),
        "--artifact-dir",
        str(tmp_path),
        stdout=_Lines([]),
    )
    assert load_model(directory=tmp_path).version == 2
    assert load_model(tmp_path / "incident_classifier_v001.json").version == 1


def test_dry_run_writes_nothing(incident_folder, tmp_path):
    call_command(
        "train_acoustic_classifier",
        "--incidents",
        str(incident_folder),
        "--artifact-dir",
        str(tmp_path),
        "--dry-run",
        stdout=_Lines([]),
    )
    assert list(tmp_path.iterdir()) == []


def test_train_boosted_from_scenarios_per_kind_through_the_cache(tmp_path):
    """--train-scenarios: truth-grouped and live-chain incidents of the given scenario
    seeds train boosted trees; the operating point comes from the live-chain ones; the
    feature sets are cached and a second run reads them instead of generating."""
    train = "single_shot=8101:8104,backfire=8101:8104,other=8101:8103"
    test = "single_shot=8201:8202,backfire=8201:8202"
    args = ["--train-scenarios", train, "--test-scenarios", test, "--model", "boosted"]
    cache = tmp_path / "cache"
    out = []
    call_command(
        "train_acoustic_classifier",
        *args,
        "--cache",
        str(cache),
        "--artifact-dir",
        str(tmp_path / "a"),
        "--workers",
        "1",
        stdout=_Lines(out),
    )
    assert "generating scenarios" in "".join(out)
    model = load_model(directory=tmp_path / "a")
    assert model.kind == "boosted_trees" and 0 < model.gunfire_threshold < 1
    assert model.training_set["scenarios"] == train
    assert "live-chain" in model.evaluation["held_out"]
    assert len(list(cache.glob("scenarios_g*.json"))) == 2
    again = []
    call_command(
        "train_acoustic_classifier",
        *args,
        "--cache",
        str(cache),
        "--artifact-dir",
        str(tmp_path / "b"),
        stdout=_Lines(again),
    )
    assert "generating" not in "".join(again)
    rebuilt = load_model(directory=tmp_path / "b")
    assert rebuilt.to_json()["trees"] == model.to_json()["trees"]
    with pytest.raises(CommandError, match="overlap"):
        call_command(
            "train_acoustic_classifier",
            "--train-scenarios",
            train,
            "--test-scenarios",
            "backfire=8103:8105",
            "--cache",
            str(cache),
            "--dry-run",
        )
    with pytest.raises(CommandError, match="kind=START:STOP"):
        call_command("train_acoustic_classifier", "--train-scenarios", "single_shot=3")


def test_bad_input_fails_with_a_message(tmp_path):
    with pytest.raises(CommandError, match="no such folder"):
        call_command("train_acoustic_classifier", "--incidents", str(tmp_path / "missing"))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(CommandError, match="cannot read JSON"):
        call_command("train_acoustic_classifier", "--incidents", str(tmp_path))
    (tmp_path / "broken.json").write_text(json.dumps({"label": "meteor", "features": {}}))
    with pytest.raises(CommandError, match="label"):
        call_command("train_acoustic_classifier", "--incidents", str(tmp_path))
    with pytest.raises(CommandError, match="overlap"):
        call_command("train_acoustic_classifier", "--train-seeds", "0:5", "--test-seeds", "3:8")
    with pytest.raises(CommandError, match="between 0 and 1"):
        call_command("train_acoustic_classifier", "--gunfire-threshold", "1.5")
    with pytest.raises(CommandError, match="START:STOP"):
        call_command("train_acoustic_classifier", "--train-seeds", "five")


class _Lines:
    def __init__(self, sink):
        self.sink = sink

    def write(self, text):
        self.sink.append(text)

    def flush(self):
        pass
