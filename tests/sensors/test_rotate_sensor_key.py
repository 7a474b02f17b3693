"""``manage.py rotate_sensor_key``: the new key signs, the old one is refused at once."""

from __future__ import annotations

import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.sensors.models import RefusalReason, RefusedRequest, Sensor
from apps.sensors.signing import generate_private_key, load_private_key_pem, public_key_b64
from tests.factories import AgencyFactory
from tests.sensors.support import PULSES, batch, post_signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered(tmp_path):
    AgencyFactory(system_id="312")
    old_file = tmp_path / "old.pem"
    call_command(
        "register_sensor",
        *("--agency", "312", "--serial", "CHI-0042", "--lat", "41.88", "--lon", "-87.63"),
        *("--elevation", "180", "--key-out", str(old_file)),
    )
    return Sensor.objects.get(serial_number="CHI-0042"), load_private_key_pem(old_file.read_bytes())


def test_the_new_key_signs_and_the_old_one_is_refused(registered, tmp_path, client, capsys):
    sensor, old_key = registered
    assert post_signed(client, PULSES, batch(1), key=old_key, serial="CHI-0042").status_code == 202
    new_file = tmp_path / "new.pem"

    call_command("rotate_sensor_key", "--serial", "CHI-0042", "--key-out", str(new_file))

    assert "has a new key" in capsys.readouterr().out
    assert stat.S_IMODE(new_file.stat().st_mode) == 0o600
    new_key = load_private_key_pem(new_file.read_bytes())
    old_reply = post_signed(client, PULSES, batch(1), key=old_key, serial="CHI-0042")
    assert old_reply.status_code == 401
    assert old_reply["Content-Type"] == "application/problem+json"
    refused = RefusedRequest.objects.get(key_id="CHI-0042")
    assert refused.reason == RefusalReason.BAD_SIGNATURE
    assert post_signed(client, PULSES, batch(1), key=new_key, serial="CHI-0042").status_code == 202
    event = AuditEvent.objects.get(action="sensor.key_rotated")
    old_public = public_key_b64(old_key.public_key())
    assert event.details == {
        "serial": "CHI-0042",
        "from": old_public,
        "to": public_key_b64(new_key.public_key()),
    }
    assert event.agency == sensor.agency and event.target_id == str(sensor.pk)


def test_a_public_key_file_replaces_the_key(registered, tmp_path, client):
    sensor, old_key = registered
    new_key = generate_private_key()
    key_file = tmp_path / "new.pub"
    key_file.write_text(public_key_b64(new_key.public_key()))

    call_command("rotate_sensor_key", "--serial", "CHI-0042", "--public-key", str(key_file))

    sensor.refresh_from_db()
    assert sensor.public_key == public_key_b64(new_key.public_key())
    assert post_signed(client, PULSES, batch(1), key=new_key, serial="CHI-0042").status_code == 202


@pytest.mark.parametrize(
    "case,message",
    [
        ("unknown serial", "No sensor with serial"),
        ("not a key", "Not a usable Ed25519 public key"),
        ("same key", "current key"),
        ("existing key file", "refusing to overwrite"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(registered, tmp_path, case, message):
    sensor, old_key = registered
    key_file = tmp_path / "key"
    args = ["--serial", "CHI-0042", "--public-key", str(key_file)]
    if case == "unknown serial":
        key_file.write_text(public_key_b64(generate_private_key().public_key()))
        args[1] = "CHI-9999"
    elif case == "not a key":
        key_file.write_text("not a key")
    elif case == "same key":
        key_file.write_text(public_key_b64(old_key.public_key()))
    else:
        key_file.write_text("keep me")
        args = ["--serial", "CHI-0042", "--key-out", str(key_file)]
    with pytest.raises(CommandError, match=message):
        call_command("rotate_sensor_key", *args)
    sensor.refresh_from_db()
    assert sensor.public_key == public_key_b64(old_key.public_key())
    assert not AuditEvent.objects.filter(action="sensor.key_rotated").exists()
    if case == "existing key file":
        assert key_file.read_text() == "keep me"
