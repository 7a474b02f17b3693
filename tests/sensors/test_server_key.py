"""The server's signing key: from SERVER_SIGNING_KEY_FILE (checked at start-up), or a
development key made once and shared; a replaced file is used from the next answer on."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from apps.sensors import server_key
from apps.sensors.server_key import server_public_key_pem, server_signing_key
from apps.sensors.signing import (
    SERVER_SIGNATURE_HEADER,
    generate_private_key,
    load_private_key_pem,
    private_key_pem,
    public_key_b64,
    server_answer_signed,
)
from shotspotter.env import env_ed25519_key_file
from tests.conftest import REPO_ROOT
from tests.sensors.support import signed_headers

AUDIO_REQUESTS = "/api/v1/sensor/audio-requests"


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


def _poll(client, *, key):
    headers = signed_headers(
        path=AUDIO_REQUESTS, body=b"", key=key, serial="S-0001", method="GET", content_type=None
    )
    return client.get(AUDIO_REQUESTS, headers=headers)


def _no_hard_links(monkeypatch):
    """As on FAT or some network and FUSE mounts: link() fails with EPERM. (Such a
    filesystem cannot be mounted in the test, so os.link itself is made to fail.)"""

    def link(src, dst, *args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(src))

    monkeypatch.setattr(os, "link", link)


@pytest.mark.django_db
def test_without_hard_links_the_development_key_is_still_made_once(
    tmp_path, settings, monkeypatch, client, sensor, key
):
    """os.link raising on a filesystem without hard links made the first poll a 500."""
    settings.SERVER_SIGNING_KEY_FILE = ""
    settings.SERVER_SIGNING_KEY_DEV_FILE = tmp_path / ".dev" / "server-signing-key.pem"
    _no_hard_links(monkeypatch)

    reply = _poll(client, key=key)

    assert reply.status_code == 200, reply.content
    path = settings.SERVER_SIGNING_KEY_DEV_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    made = load_private_key_pem(path.read_bytes())
    assert server_answer_signed(
        body=reply.content,
        header=reply.headers[SERVER_SIGNATURE_HEADER],
        public_keys=[made.public_key()],
    )
    again = _poll(client, key=key)
    assert server_answer_signed(
        body=again.content,
        header=again.headers[SERVER_SIGNATURE_HEADER],
        public_keys=[made.public_key()],
    )


def test_without_hard_links_a_key_made_meanwhile_is_never_overwritten(tmp_path, monkeypatch):
    """Another process (server or simulator) made the key between our look and our write."""
    path = tmp_path / "server-signing-key.pem"
    theirs = private_key_pem(generate_private_key())
    path.write_bytes(theirs)
    _no_hard_links(monkeypatch)

    server_key._create_development_key(path)

    assert path.read_bytes() == theirs
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.django_db
def test_a_development_key_that_cannot_be_made_is_a_clear_503(tmp_path, settings, client, key):
    """Its directory cannot be created (here a file is in the way): a 503 problem naming
    the file, not a 500."""
    (tmp_path / "not-a-directory").write_text("")
    settings.SERVER_SIGNING_KEY_FILE = ""
    settings.SERVER_SIGNING_KEY_DEV_FILE = tmp_path / "not-a-directory" / "key.pem"

    reply = _poll(client, key=key)

    assert reply.status_code == 503, reply.content
    assert reply.headers["Content-Type"] == "application/problem+json"
    with pytest.raises(ImproperlyConfigured, match="SERVER_SIGNING_KEY_DEV_FILE: cannot create"):
        server_signing_key()


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
