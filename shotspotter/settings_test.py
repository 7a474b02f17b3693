"""Test settings: the production module plus what only tests want (cookiecutter-django)."""

import os

os.environ.setdefault("SECRET_KEY", "insecure-test-only-key")

from shotspotter.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
# Alert retries run at once in-process, so the tests see the whole retry chain (make run
# records a failure and retries nothing: tests/alerts/test_webhooks.py turns it off there).
ALERTS_RETRY_WHEN_EAGER = True
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Test runs post hundreds of signed requests a minute from the same few serials (S-0001 in
# most sensor tests), and the cache keeps counting across tests: the per-sensor rate limit
# would refuse them. Its own tests turn it on (tests/sensors/test_throttling.py).
SENSOR_API_RATE_LIMIT = 0
# A development server key of the test runs' own (made on first use, kept out of git):
# the sensor API signs audio-request answers with it and test agents trust it.
SERVER_SIGNING_KEY_DEV_FILE = BASE_DIR / ".dev" / "test-server-signing-key.pem"  # noqa: F405
