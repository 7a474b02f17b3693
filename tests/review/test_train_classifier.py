"""`manage.py train_classifier` learns from reviewed incidents stored with their pulses.

The fixtures are generated acoustic scenarios (real per-pulse features) stored as
incidents, shots, shot pulses and sensor pulses, each with a reviewer's decision. Which
incidents are held out is the command's documented rule: every fifth by incident id.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.acoustics import classifier
from apps.acoustics.generator.labelled import labelled_incidents
from apps.acoustics.generator.scenarios import generate_scenario
from apps.acoustics.geometry import LocalFrame
from apps.incidents.models import Incident, IncidentStatus, Shot, ShotPulse
from apps.incidents.services import incident_number_next
from apps.review.models import ReviewDecision
from apps.review.selectors import training_examples
from apps.sensors.models import SensorPulse
from tests.factories import UserFactory
from tests.incidents.support import CENTRE
from tests.sensors.support import register

pytestmark = pytest.mark.django_db

SWAP = {"gunfire": "backfire", "backfire": "gunfire"}


@functools.lru_cache(maxsize=1)
def generated() -> tuple:
    """Labelled gunfire and backfire incidents from generated scenarios (cached)."""
    items = []
    for kind, seeds in (("single_shot", range(8)), ("backfire", range(6))):
        for seed in seeds:
            scenario = generate_scenario(kind=kind, seed=seed)
            for item in labelled_incidents(scenario, seed=seed):
                if item.label in ("gunfire", "backfire"):
                    items.append(item)
    # Interleave the classes so that both are in training and held-out positions.
    gun = [i for i in items if i.label == "gunfire"]
    back = [i for i in items if i.label == "backfire"]
    mixed = []
    for k in range(max(len(gun), len(back))):
        mixed.extend(x[k] for x in (gun, back) if k < len(x))
    return tuple(mixed)


def _store(item, *, area, sensors: dict, label: str, reviewer) -> Incident:
    frame = LocalFrame(origin_lat_deg=CENTRE[0], origin_lon_deg=CENTRE[1])
    shots = item.incident.shots
    t0 = min(s.t_emit for s in shots)
    when = dt.datetime.fromtimestamp(t0, dt.UTC)
    lat, lon, _ = frame.to_wgs84([shots[0].x, shots[0].y, 0.0])
    incident = Incident.objects.create(
        agency=area.agency,
        coverage_area=area,
        number=incident_number_next(agency=area.agency),
        status=IncidentStatus.PUBLISHED if label == "gunfire" else IncidentStatus.DISMISSED,
        first_shot_at=when,
        last_shot_at=dt.datetime.fromtimestamp(max(s.t_emit for s in shots), dt.UTC),
        detected_at=when + dt.timedelta(seconds=5),
        latitude=float(lat),
        longitude=float(lon),
        ellipse_major_m=10.0,
        ellipse_minor_m=10.0,
        ellipse_azimuth_deg=0.0,
        origin_latitude=CENTRE[0],
        origin_longitude=CENTRE[1],
        rounds=len(shots),
    )
    for located in shots:
        slat, slon, _ = frame.to_wgs84([located.x, located.y, 0.0])
        shot = Shot.objects.create(
            incident=incident,
            emitted_at=dt.datetime.fromtimestamp(located.t_emit, dt.UTC),
            emitted_epoch_s=located.t_emit,
            latitude=float(slat),
            longitude=float(slon),
            x_m=located.x,
            y_m=located.y,
            z_m=located.z,
            ellipse_major_m=located.ellipse95_major_m,
            ellipse_minor_m=located.ellipse95_minor_m,
            ellipse_azimuth_deg=located.ellipse95_azimuth_deg,
            cov_xx=located.cov_xy[0][0],
            cov_xy=located.cov_xy[0][1],
            cov_yy=located.cov_xy[1][1],
            residual_rms_ms=0.0,
            n_sensors=len(located.pulse_uuids),
        )
        for pulse_uuid in located.pulse_uuids:
            pulse = item.pulses[pulse_uuid]
            plat, plon, ph = frame.to_wgs84([pulse.x, pulse.y, pulse.z])
            sensor = sensors.get(pulse.sensor_id)
            if sensor is None:
                sensor, _ = register(
                    agency=area.agency,
                    serial=f"TR-{len(sensors):04d}",
                    lat=float(plat),
                    lon=float(plon),
                    coverage_area=area,
                )
                sensors[pulse.sensor_id] = sensor
            stored = SensorPulse.objects.create(
                pulse_uuid=uuid.uuid4(),
                sensor=sensor,
                coverage_area=area,
                latitude=float(plat),
                longitude=float(plon),
                elevation_m=float(ph),
                position_error_m=1.0,
                arrival_time=dt.datetime.fromtimestamp(pulse.t, dt.UTC),
                arrival_epoch_s=pulse.t,
                power_db_spl=float(pulse.power_db_spl or 0.0),
                snr_db=float(pulse.snr_db or 0.0),
                features=dict(pulse.features.get("features", pulse.features)),
            )
            ShotPulse.objects.create(
                shot=shot,
                pulse=stored,
                sensor=sensor,
                distance_m=((pulse.x - located.x) ** 2 + (pulse.y - located.y) ** 2) ** 0.5,
                residual_ms=0.0,
            )
    gunfire = label == "gunfire"
    decision = (
        ("multiple_gunshots" if len(shots) > 1 else "single_gunshot")
        if gunfire
        else ("not_gunfire")
    )
    ReviewDecision.objects.create(
        incident=incident,
        decision=decision,
        not_gunfire_reason="" if gunfire else "backfire",
        rounds=len(shots),
        initial_decision=decision,
        initial_not_gunfire_reason="" if gunfire else "backfire",
        decided_by=reviewer,
        detected_at=incident.detected_at,
        seconds_to_decision=20.0,
    )
    return incident


def _labelled_db(area, *, swap_training_labels=False) -> list[Incident]:
    reviewer = UserFactory(irc_reviewer=True)
    sensors: dict = {}
    stored = []
    for position, item in enumerate(generated()):
        label = item.label
        if swap_training_labels and position % 5 != 4:
            label = SWAP[label]
        stored.append(_store(item, area=area, sensors=sensors, label=label, reviewer=reviewer))
    return stored


def _install_current(directory, *, swapped: bool) -> classifier.Model:
    """A 'current' model trained on every stored incident with true or swapped labels."""
    truth = {e.incident_id: e for e in training_examples()[0]}
    labels = [item.label for item in generated()]
    ids = sorted(truth)
    pairs = [
        (truth[i].features, SWAP[label] if swapped else label)
        for i, label in zip(ids, labels, strict=True)
    ]
    model = classifier.train(examples=pairs, version=1)
    classifier.save_model(model, directory=directory)
    return model


def _run(directory, *args) -> str:
    out = StringIO()
    call_command(
        "train_classifier",
        "--artifact-dir",
        str(directory),
        "--min-incidents",
        "10",
        *args,
        stdout=out,
        stderr=StringIO(),
    )
    return out.getvalue()


def test_reviewed_incidents_become_labelled_features(area):
    stored = _labelled_db(area)
    examples, skipped = training_examples()
    assert skipped == []
    assert [e.incident_id for e in examples] == [i.pk for i in stored]
    assert [e.label for e in examples] == [item.label for item in generated()]
    assert set(examples[0].features) == set(classifier.INCIDENT_FEATURE_NAMES)


def test_a_better_model_is_installed_as_the_next_version(area, tmp_path):
    _labelled_db(area)
    _install_current(tmp_path, swapped=True)  # a current model that has it backwards

    output = _run(tmp_path)

    assert "installed" in output and "not installed" not in output
    assert classifier.installed_versions(tmp_path) == [1, 2]
    new = classifier.load_model(directory=tmp_path)
    assert new.version == 2
    assert new.evaluation["previous_version"] == 1
    assert new.evaluation["per_class"]["gunfire"]["recall"] >= (
        new.evaluation["previous_per_class"]["gunfire"]["recall"] or 0.0
    )


def test_a_worse_model_is_not_installed(area, tmp_path):
    # Reviewers' training labels are backwards; the held-out ones (every 5th) are right.
    _labelled_db(area, swap_training_labels=True)
    _install_current(tmp_path, swapped=False)

    output = _run(tmp_path)

    assert "not installed: the new model is worse than version 1" in output
    assert classifier.installed_versions(tmp_path) == [1]


def test_dry_run_never_installs(area, tmp_path):
    _labelled_db(area)
    _install_current(tmp_path, swapped=True)
    output = _run(tmp_path, "--dry-run")
    assert "dry run: would install; nothing written" in output
    assert classifier.installed_versions(tmp_path) == [1]


def test_too_few_labelled_incidents_is_a_clear_error(area, tmp_path):
    reviewer = UserFactory(irc_reviewer=True)
    sensors: dict = {}
    for item in generated()[:3]:
        _store(item, area=area, sensors=sensors, label=item.label, reviewer=reviewer)
    with pytest.raises(CommandError, match="too few labelled incidents to retrain: 3 usable"):
        _run(tmp_path)
    assert not tmp_path.joinpath("incident_classifier_v001.json").exists()


def test_the_command_exits_non_zero_without_enough_data(tmp_path, capsys):
    from django.core.management import execute_from_command_line

    with pytest.raises(SystemExit) as exit_:
        execute_from_command_line(
            ["manage.py", "train_classifier", "--artifact-dir", str(tmp_path)]
        )
    assert exit_.value.code != 0
    assert "too few labelled incidents to retrain: 0 usable" in capsys.readouterr().err
