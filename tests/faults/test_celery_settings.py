"""The Celery settings the fault scenarios rely on, as the production settings load them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.browser import REPO_ROOT

pytestmark = pytest.mark.slow  # each test starts Django in a fresh process

SHOW_CONF = (
    "from shotspotter.celery import app; import json; c = app.conf; print(json.dumps({"
    "'acks_late': c.task_acks_late, 'reject_on_worker_lost': c.task_reject_on_worker_lost,"
    "'prefetch': c.worker_prefetch_multiplier,"
    "'visibility_timeout': c.broker_transport_options.get('visibility_timeout')}))"
)


def celery_conf(**env: str) -> subprocess.CompletedProcess:
    """The Celery app's configuration in a fresh process on the production settings."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + SHOW_CONF],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "shotspotter.settings",
            "SECRET_KEY": "faults-test-only-key",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_late_acknowledgement_and_the_visibility_timeout_reach_the_celery_app():
    result = celery_conf(CELERY_VISIBILITY_TIMEOUT_S="", ALERTS_RETRY_MAX_S="")
    assert result.returncode == 0, result.stderr
    conf = json.loads(result.stdout.strip().splitlines()[-1])
    assert conf == {
        "acks_late": True,
        "reject_on_worker_lost": True,
        "prefetch": 1,
        # Longer than the longest alert retry countdown (3600 s), or it would run twice.
        "visibility_timeout": 3600 + 600,
    }


def test_a_visibility_timeout_not_above_the_longest_countdown_is_refused_at_start():
    result = celery_conf(CELERY_VISIBILITY_TIMEOUT_S="3600", ALERTS_RETRY_MAX_S="3600")
    assert result.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT_S must be at least 3601; got 3600" in result.stderr

    result = celery_conf(CELERY_VISIBILITY_TIMEOUT_S="5", ALERTS_RETRY_MAX_S="4")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["visibility_timeout"] == 5
