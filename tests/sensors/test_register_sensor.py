"""``manage.py register_sensor``: registers a sensor whose key really signs, or writes nothing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.sensors.models import Sensor, SensorPulse
from apps.sensors.signing import (
    generate_private_key,
    load_private_key_pem,
    public_key_b64,
)
from tests.factories import AgencyFactory
from tests.sensors.support import PULSES, batch, post_signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def agency():
    return AgencyFactory(system_id="312")


def run(*args: str):
    call_command("register_sensor", *args)


BASE_ARGS = ["--agency", "312", "--serial", "CHI-0042", "--lat", "41.88", "--lon", "-87.63"]


def test_key_out_writes_a_usable_private_key(agency, tmp_path, client, capsys):
    key_file = tmp_path / "CHI-0042.pem"
    run(*BASE_ARGS, "--elevation", "180", "--key-out", str(key_file))
    assert "Registered sensor CHI-0042" in capsys.readouterr().out
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = load_private_key_pem(key_file.read_bytes())
    sensor = Sensor.objects.get(serial_number="CHI-0042")
    assert sensor.agency == agency
    assert (sensor.latitude, sensor.longitude, sensor.elevation_m) == (41.88, -87.63, 180.0)
    assert sensor.public_key == public_key_b64(key.public_key())
    event = AuditEvent.objects.get(action="sensor.registered")
    assert event.agency == agency and event.target_id == str(sensor.pk)

    response = post_signed(client, PULSES, batch(2), key=key, serial="CHI-0042")
    assert response.status_code == 202
    assert SensorPulse.objects.filter(sensor=sensor).count() == 2


@pytest.mark.parametrize("form", ["pem", "raw"])
def test_public_key_file_in_pem_or_raw_base64(agency, tmp_path, form):
    key = generate_private_key()
    if form == "pem":
        text = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        text = (public_key_b64(key.public_key()) + "\n").encode()
    path = tmp_path / "pub.key"
    path.write_bytes(text)
    run(*BASE_ARGS, "--elevation", "180", "--public-key", str(path))
    assert Sensor.objects.get().public_key == public_key_b64(key.public_key())


def _assert_nothing_written(tmp_path):
    assert not Sensor.objects.exclude(serial_number="EXISTING").exists()
    assert (
        not AuditEvent.objects.filter(action="sensor.registered")
        .exclude(target_label="EXISTING")
        .exists()
    )
    assert [p.name for p in tmp_path.iterdir() if p.name != "pub.key"] == []


@pytest.mark.parametrize(
    "args,message",
    [
        (["--agency", "999"], "No agency with system id '999'"),
        (["--lat", "91"], "latitude"),
        (["--lon", "-181"], "longitude"),
        (["--elevation", "20000"], "elevation_m"),
        (["--serial", ""], "serial_number"),
        (["--coverage-area", "Nowhere"], "no coverage area 'Nowhere'"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(agency, tmp_path, args, message):
    values = {
        "--agency": "312",
        "--serial": "CHI-0042",
        "--lat": "41.88",
        "--lon": "-87.63",
        "--elevation": "180",
    }
    extra = []
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag in values:
            values[flag] = value
        else:
            extra += [flag, value]
    argv = [item for pair in values.items() for item in pair] + extra
    with pytest.raises(CommandError, match=message):
        run(*argv, "--key-out", str(tmp_path / "key.pem"))
    _assert_nothing_written(tmp_path)


def test_duplicate_serial_is_refused(agency, tmp_path):
    run(*BASE_ARGS, "--elevation", "180", "--key-out", str(tmp_path / "first.pem"))
    with pytest.raises(CommandError, match="serial"):
        run(*BASE_ARGS, "--elevation", "180", "--key-out", str(tmp_path / "second.pem"))
    assert Sensor.objects.count() == 1
    assert not (tmp_path / "second.pem").exists()


def test_unreadable_or_invalid_public_key_is_refused(agency, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(*BASE_ARGS, "--elevation", "180", "--public-key", str(tmp_path / "missing.key"))
    bad = tmp_path / "pub.key"
    bad.write_text("not a key at all")
    with pytest.raises(CommandError, match="Ed25519 public key"):
        run(*BASE_ARGS, "--elevation", "180", "--public-key", str(bad))
    bad.write_bytes(b"QUJD")  # valid base64, 3 bytes
    with pytest.raises(CommandError, match="32 bytes"):
        run(*BASE_ARGS, "--elevation", "180", "--public-key", str(bad))
    _assert_nothing_written(tmp_path)


def test_existing_key_file_is_never_overwritten(agency, tmp_path):
    existing = tmp_path / "key.pem"
    existing.write_text("precious")
    with pytest.raises(CommandError, match="exists"):
        run(*BASE_ARGS, "--elevation", "180", "--key-out", str(existing))
    assert existing.read_text() == "precious"
    assert not Sensor.objects.exists()


def test_unwritable_key_directory_writes_nothing(agency, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        run(*BASE_ARGS, "--elevation", "180", "--key-out", str(tmp_path / "no" / "key.pem"))
    assert not Sensor.objects.exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_key_write_failure_rolls_back_the_registration(agency):
    # /proc refuses new files even for root: the write fails after the registration.
    with pytest.raises(CommandError, match="Cannot write"):
        run(*BASE_ARGS, "--elevation", "180", "--key-out", "/proc/sensor-key-test.pem")
    assert not Sensor.objects.exists()
    assert not AuditEvent.objects.filter(action="sensor.registered").exists()


def test_missing_key_option_is_an_error(agency):
    with pytest.raises(CommandError, match="--public-key"):
        run(*BASE_ARGS, "--elevation", "180")
    with pytest.raises(CommandError, match="invalid finite_number value"):
        run(*BASE_ARGS, "--elevation", "nan", "--key-out", "/tmp/x.pem")
