"""`make run` links e-mails to the server it starts (SITE_URL follows HOST and PORT).

`make run PORT=8765` used to leave SITE_URL at its default, so alert e-mails and CAP
documents linked to port 8000. The run target is executed with a stand-in interpreter
that prints the environment each command gets (nothing is migrated or served).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def site_urls(tmp_path: Path, *args: str, env: dict | None = None) -> set[str]:
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "SITE_URL=$SITE_URL"\n')
    fake.chmod(0o755)
    environment = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "MAKEFLAGS")}
    environment.update(env or {})
    done = subprocess.run(
        [
            "make",
            "-s",
            "run",
            f"VENV={tmp_path}",
            f"PY={fake}",
            "-o",
            f"{tmp_path}/.installed",
            *args,
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = {line for line in done.stdout.splitlines() if line.startswith("SITE_URL=")}
    assert lines, done.stdout + done.stderr
    return lines


def test_site_url_follows_the_port(tmp_path):
    assert site_urls(tmp_path, "PORT=8765") == {"SITE_URL=http://127.0.0.1:8765"}


def test_the_default_is_unchanged_and_an_explicit_site_url_wins(tmp_path):
    assert site_urls(tmp_path) == {"SITE_URL=http://127.0.0.1:8000"}
    assert site_urls(tmp_path, "HOST=0.0.0.0", "PORT=9000") == {"SITE_URL=http://127.0.0.1:9000"}
    chosen = {"SITE_URL": "https://siren.example.org"}
    assert site_urls(tmp_path, "PORT=8765", env=chosen) == {"SITE_URL=https://siren.example.org"}
