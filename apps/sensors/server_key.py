"""The server's own Ed25519 key: it signs every audio-request answer a sensor polls.

Sensors authenticate to the server with their keys (``signatures.py``); this is the other
direction. A sensor is provisioned with the public half (``manage.py server_public_key``)
and uploads audio only for an answer signed with it (``apps/sensor_agent/agent.py``).

Where the key comes from:
- ``SERVER_SIGNING_KEY_FILE`` (settings, from the environment): an Ed25519 private key,
  PEM; validated when the settings load, read again when the file changes (rotation).
- otherwise, under DEBUG (``make run``) or in tests: a development key generated on first
  use and kept in ``SERVER_SIGNING_KEY_DEV_FILE`` (mode 0600), so the server and the
  simulator (two processes) share it across restarts;
- otherwise the server has no key: audio requests cannot be handed out (503), and the
  system check ``sensors.E001`` stops ``migrate``/``runserver``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.sensors.signing import (
    KeyFormatError,
    generate_private_key,
    load_private_key_pem,
    private_key_pem,
    public_key_pem,
    sign_server_answer,
)

_lock = threading.Lock()
_cache: dict[tuple, ed25519.Ed25519PrivateKey] = {}


class ServerKeyMissing(ImproperlyConfigured):
    """No server signing key is configured (DEBUG off, no SERVER_SIGNING_KEY_FILE)."""


def configured_key_path() -> tuple[Path, bool] | None:
    """The key file and whether it may be created here (development key), or None."""
    path = getattr(settings, "SERVER_SIGNING_KEY_FILE", "") or ""
    if path:
        return Path(path), False
    dev = getattr(settings, "SERVER_SIGNING_KEY_DEV_FILE", None)
    if dev:
        return Path(dev), True
    return None


def _create_development_key(path: Path) -> None:
    """Write a new key to ``path`` unless one is there; safe when two processes race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = private_key_pem(generate_private_key())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # atomic, and fails if another process made it first
        except FileExistsError:
            pass
        except (OSError, NotImplementedError):
            # No hard links on this filesystem (FAT, some network and FUSE mounts).
            _create_exclusively(path, pem)
    finally:
        tmp.unlink(missing_ok=True)


def _create_exclusively(path: Path, pem: bytes) -> None:
    """Write ``pem`` to ``path`` only if nothing is there (O_EXCL: never clobbers a key).

    Unlike the hard link, the file is visible before it is written: a process reading it
    in that instant gets a 503 once and the complete key on its next read (the cache is
    keyed by size and mtime). A failed write leaves no truncated key behind."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def server_signing_key() -> ed25519.Ed25519PrivateKey:
    """The key the server signs audio-request answers with (raises when there is none)."""
    found = configured_key_path()
    if found is None:
        raise ServerKeyMissing(
            "SERVER_SIGNING_KEY_FILE is required when DEBUG is off: the server signs the "
            "audio requests it hands to sensors with it (see docs/operations.md)"
        )
    path, development = found
    with _lock:
        if development and not path.exists():
            try:
                _create_development_key(path)
            except OSError as error:
                raise ImproperlyConfigured(
                    f"SERVER_SIGNING_KEY_DEV_FILE: cannot create {path}: {error.strerror or error}"
                ) from None
        setting = "SERVER_SIGNING_KEY_DEV_FILE" if development else "SERVER_SIGNING_KEY_FILE"
        try:
            stat = path.stat()
        except OSError as error:
            raise ImproperlyConfigured(f"{setting}: cannot read {path}: {error.strerror}") from None
        marker = (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
        key = _cache.get(marker)
        if key is None:
            try:
                key = load_private_key_pem(path.read_bytes())
            except (OSError, KeyFormatError) as error:
                raise ImproperlyConfigured(f"{setting}: {path}: {error}") from None
            _cache.clear()
            _cache[marker] = key
        return key


def server_public_key_pem() -> bytes:
    return public_key_pem(server_signing_key().public_key())


def signed_audio_requests_answer(payload: dict) -> tuple[bytes, str]:
    """The answer's exact body and its ``Server-Signature`` value (signed as sent)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return body, sign_server_answer(body=body, private_key=server_signing_key())
