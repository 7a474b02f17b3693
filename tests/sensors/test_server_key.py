"""The server's signing key: from SERVER_SIGNING_KEY_FILE (checked at start-up), or a
development key made once and shared; a replaced file is used from the next answer on."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from apps.sensors.server_key import server_public_key_pem, server_signing_key
from apps.sensors.signing import generate_private_key, private_key_pem, public_key_b64
from shotspotter.env import env_ed25519_key_file
from tests.conftest import REPO_ROOT


def test_the_key_file_is_checked_when_the_settings_load(tmp_path, monkeypatch):
    monkeypatch.delenv("SERVER_SIGNING_KEY_FILE", raising=False)
    assert env_ed25519_key_file("SERVER_SIGNING_KEY_FILE") == ""
    good = tmp_path / "good.pem"
    good.write_bytes(private_key_pem(generate_private_key()))
    monkeypatch.setenv("SERVER_SIGNING_KEY_FILE", str(good))
    assert env_ed25519_key_file("SERVER_SIGNING_KEY_FILE") == str(good)
    not_ed25519 = tmp_path / "ec.pem"
    not_ed25519.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "junk.pem").write_text("junk")
    for name, message in [
        ("missing.pem", "cannot read"),
        ("junk.pem", "not an unencrypted PEM private key"),
        ("ec.pem", "not an Ed25519 key"),
    ]:
        monkeypatch.setenv("SERVER_SIGNING_KEY_FILE", str(tmp_path / name))
        with pytest.raises(ImproperlyConfigured, match=f"SERVER_SIGNING_KEY_FILE: .*{message}"):
            env_ed25519_key_file("SERVER_SIGNING_KEY_FILE")


def test_production_settings_refuse_a_bad_key_file_at_start_up(tmp_path):
    (tmp_path / "junk.pem").write_text("junk")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO_ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "shotspotter.settings",
            "SECRET_KEY": "test-only",
            "SERVER_SIGNING_KEY_FILE": str(tmp_path / "junk.pem"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SERVER_SIGNING_KEY_FILE" in result.stderr and "junk.pem" in result.stderr


def test_a_development_key_is_made_once_and_kept_private(tmp_path, settings):
    settings.SERVER_SIGNING_KEY_FILE = ""
    settings.SERVER_SIGNING_KEY_DEV_FILE = tmp_path / ".dev" / "server-signing-key.pem"
    first = server_signing_key()
    path = settings.SERVER_SIGNING_KEY_DEV_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_b64(server_signing_key().public_key()) == public_key_b64(first.public_key())
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_replaced_key_file_is_used_from_the_next_answer_on(tmp_path, settings):
    path = tmp_path / "server.pem"
    old, new = generate_private_key(), generate_private_key()
    path.write_bytes(private_key_pem(old))
    settings.SERVER_SIGNING_KEY_FILE = str(path)
    assert public_key_b64(server_signing_key().public_key()) == public_key_b64(old.public_key())
    path.with_name("next.pem").write_bytes(private_key_pem(new))
    path.with_name("next.pem").replace(path)
    assert public_key_b64(server_signing_key().public_key()) == public_key_b64(new.public_key())


def test_server_public_key_command_prints_or_writes_the_public_half(tmp_path, settings, capsys):
    path = tmp_path / "server.pem"
    key = generate_private_key()
    path.write_bytes(private_key_pem(key))
    settings.SERVER_SIGNING_KEY_FILE = str(path)
    call_command("server_public_key")
    printed = capsys.readouterr().out
    assert printed.startswith("-----BEGIN PUBLIC KEY-----") and "PRIVATE" not in printed
    assert printed.encode() == server_public_key_pem()
    call_command("server_public_key", "--out", str(tmp_path / "server.pub"))
    assert (tmp_path / "server.pub").read_text() == printed
    settings.SERVER_SIGNING_KEY_FILE = ""
    settings.SERVER_SIGNING_KEY_DEV_FILE = None
    with pytest.raises(CommandError, match="SERVER_SIGNING_KEY_FILE is required"):
        call_command("server_public_key")
