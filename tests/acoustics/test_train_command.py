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
    with pytest.raises(CommandError, match="START:STOP"):
        call_command("train_acoustic_classifier", "--train-seeds", "five")


class _Lines:
    def __init__(self, sink):
        self.sink = sink

    def write(self, text):
        self.sink.append(text)

    def flush(self):
        pass
