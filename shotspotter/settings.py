"""Settings for the whole monolith, read from the environment (see .env.example).

With nothing set the system runs embedded: SQLite, an in-memory channel layer,
Celery tasks executed in-process and e-mail printed to the console. Production sets
DATABASE_URL (PostgreSQL), REDIS_URL (Celery broker and channels_redis), SECRET_KEY,
ALLOWED_HOSTS, EMAIL_URL and SITE_URL.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from shotspotter.env import (
    env_bool,
    env_ed25519_key_file,
    env_float,
    env_int,
    env_list,
    env_str,
    parse_database_url,
    parse_email_url,
)
from shotspotter.version import VERSION

BASE_DIR = Path(__file__).resolve().parent.parent
APP_VERSION = VERSION

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
SITE_URL = (env_str("SITE_URL", "http://127.0.0.1:8000") or "").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "apps.core",
    "apps.accounts",
    "apps.audit",
    "apps.geo",
    "apps.acoustics",
    "apps.realtime",
    "apps.sensors",
    "apps.incidents",
    "apps.review",
    "apps.portal",
    "apps.alerts",
    "apps.briefing",
    "apps.integrations",
    "apps.privacy",
    "apps.investigations",
    "apps.evidence",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.ContentSecurityPolicyMiddleware",
    # A database outage met in a view: 503 page or problem (apps.core.unavailable).
    "apps.core.unavailable.DatabaseUnavailableMiddleware",
    # An unknown /api/... URL is problem+json 404, under DEBUG too.
    "apps.core.middleware.ApiNotFoundProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.accounts.middleware.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shotspotter.urls"
WSGI_APPLICATION = "shotspotter.wsgi.application"
ASGI_APPLICATION = "shotspotter.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.platform",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# The embedded SQLite gets WAL, IMMEDIATE transactions and a busy timeout
# (shotspotter.env.sqlite_options): `make run` writes from several threads at once.
DATABASES = {"default": parse_database_url(DATABASE_URL)}
# Seconds a connection is reused (0 = a new one for every request or task). Under ASGI
# only long-lived threads keep one (the sensor API's pool, websocket consumers); a
# request running in a thread of its own closes its connection when it finishes
# (shotspotter.asgi_handler), so connections cannot pile up.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Lets several test runs share one PostgreSQL server without colliding.
if env_str("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, channel layer and cache ----------------------------------------
REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py's default 5 s socket timeout equals channels_redis's 5 s blocking
                # read (BZPOPMIN), so idle consumers died with "Timeout reading" every few
                # seconds and their websockets closed; reads get more room than the block.
                "hosts": [
                    {"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 3}
                ],
                "prefix": env_str("CHANNELS_PREFIX", "shotspotter"),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_PREFIX", "shotspotter"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Embedded mode runs tasks in-process so `make run` needs no broker.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# A worker killed mid-task must not lose the task: acknowledge only after it ran.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600, minimum=300, maximum=86400)
# Failed logins per account before it is locked, and for how long.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# Failures counted within this window; per client address the limit is higher because
# many officers can share one station's address.
LOGIN_FAILURE_WINDOW_SECONDS = env_int(
    "LOGIN_FAILURE_WINDOW_SECONDS", LOGIN_LOCKOUT_SECONDS, minimum=1
)
LOGIN_IP_FAILURE_LIMIT = env_int("LOGIN_IP_FAILURE_LIMIT", 4 * LOGIN_FAILURE_LIMIT, minimum=1)
PASSWORD_RESET_MAIL_LIMIT = env_int("PASSWORD_RESET_MAIL_LIMIT", 5, minimum=1)
PASSWORD_RESET_MAIL_WINDOW_SECONDS = env_int("PASSWORD_RESET_MAIL_WINDOW_SECONDS", 3600, minimum=60)
# Reverse proxies in front of the app that append to X-Forwarded-For (0 = none; then
# the header is ignored, since clients can write it).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=5)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "ShotSpotter Open")

SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=300)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- E-mail ---------------------------------------------------------------------------------
_email_url = env_str("EMAIL_URL")
if _email_url:
    globals().update(parse_email_url(_email_url))
elif env_str("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env_str("EMAIL_HOST")
    EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ShotSpotter Open <alerts@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.problems.problem_exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ShotSpotter Open API",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # Every API error is a problem+json body (apps.core.problems); the schema says so.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.schema.problem_responses",
    ],
}

# --- Sensor API (apps.sensors.conf has the defaults) ----------------------------------------
SENSOR_SIGNATURE_MAX_AGE_S = env_int("SENSOR_SIGNATURE_MAX_AGE_S", 30, minimum=1, maximum=300)
SENSOR_SIGNATURE_MAX_FUTURE_S = env_int("SENSOR_SIGNATURE_MAX_FUTURE_S", 5, minimum=0, maximum=60)
SENSOR_NONCE_RETENTION_S = max(
    env_int("SENSOR_NONCE_RETENTION_S", 120, minimum=1),
    SENSOR_SIGNATURE_MAX_AGE_S + SENSOR_SIGNATURE_MAX_FUTURE_S + 1,
)
SENSOR_API_MAX_BODY_BYTES = env_int("SENSOR_API_MAX_BODY_BYTES", 2_000_000, minimum=1024)
SENSOR_PULSE_BATCH_MAX = env_int("SENSOR_PULSE_BATCH_MAX", 1000, minimum=1)
SENSOR_PULSE_MAX_AGE_S = env_int("SENSOR_PULSE_MAX_AGE_S", 72 * 3600, minimum=60)
SENSOR_PULSE_MAX_FUTURE_S = env_int("SENSOR_PULSE_MAX_FUTURE_S", 10, minimum=0, maximum=300)
SENSOR_HEARTBEAT_INTERVAL_S = env_int("SENSOR_HEARTBEAT_INTERVAL_S", 60, minimum=5)
# Long-lived threads per server process for the sensor API (shotspotter/asgi_handler.py).
SENSOR_API_THREADS = env_int("SENSOR_API_THREADS", 4, minimum=1, maximum=64)
# Requests per sensor (by its signed serial) per window, counted in the cache (Redis);
# beyond it 429 with Retry-After. 0 turns the limit off.
SENSOR_API_RATE_LIMIT = env_int("SENSOR_API_RATE_LIMIT", 600, minimum=0)
SENSOR_API_RATE_WINDOW_S = env_int("SENSOR_API_RATE_WINDOW_S", 60, minimum=1, maximum=3600)
# The server's Ed25519 key (PEM file): it signs every audio-request answer a sensor polls,
# and sensors upload audio only for answers signed with it (apps/sensors/server_key.py,
# docs/operations.md). Required when DEBUG is off; under DEBUG a development key is made
# on first use and kept in SERVER_SIGNING_KEY_DEV_FILE (make run: server and simulator).
SERVER_SIGNING_KEY_FILE = env_ed25519_key_file("SERVER_SIGNING_KEY_FILE")
SERVER_SIGNING_KEY_DEV_FILE = BASE_DIR / ".dev" / "server-signing-key.pem" if DEBUG else None
CELERY_BEAT_SCHEDULE["sensors-purge-used-nonces"] = {
    "task": "sensors.purge_used_nonces",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["sensors-update-missed-heartbeats"] = {
    "task": "sensors.update_missed_heartbeats",
    "schedule": float(SENSOR_HEARTBEAT_INTERVAL_S),
}

# --- Detection pipeline and incident audio (apps.incidents.conf has the defaults) -----------
PIPELINE_WINDOW_S = env_int("PIPELINE_WINDOW_S", 20, minimum=5, maximum=120)
PIPELINE_TEMPERATURE_C = env_float("PIPELINE_TEMPERATURE_C", 15.0, minimum=-60.0)
PIPELINE_WIND_SPEED_MS = env_float("PIPELINE_WIND_SPEED_MS", 0.0, minimum=0.0)
PIPELINE_WIND_FROM_DEG = env_float("PIPELINE_WIND_FROM_DEG", 0.0)
INCIDENT_CLOSE_AFTER_S = env_int("INCIDENT_CLOSE_AFTER_S", 30, minimum=15)
# Empty: the newest artifact installed in apps/acoustics/artifacts.
INCIDENT_CLASSIFIER_PATH = env_str("INCIDENT_CLASSIFIER_PATH", "")
AUDIO_SENSORS_PER_INCIDENT = env_int("AUDIO_SENSORS_PER_INCIDENT", 4, minimum=1, maximum=16)
AUDIO_MAX_DISTANCE_M = env_float("AUDIO_MAX_DISTANCE_M", 800.0, minimum=1.0)
AUDIO_REQUEST_EXPIRY_S = env_int("AUDIO_REQUEST_EXPIRY_S", 600, minimum=30)
CELERY_BEAT_SCHEDULE["incidents-sweep"] = {"task": "incidents.sweep", "schedule": 10.0}
CELERY_BEAT_SCHEDULE["incidents-expire-audio-requests"] = {
    "task": "incidents.expire_audio_requests",
    "schedule": 60.0,
}

# --- Incident Review Center (apps.review.conf has the defaults) -----------------------------
REVIEW_CLAIM_IDLE_SECONDS = env_int("REVIEW_CLAIM_IDLE_SECONDS", 120, minimum=10)
REVIEW_TARGET_SECONDS = env_int("REVIEW_TARGET_SECONDS", 60, minimum=1)
CELERY_BEAT_SCHEDULE["review-release-idle-claims"] = {
    "task": "review.release_idle_claims",
    "schedule": 15.0,
}

# --- Alerts out: e-mail alerts, dispatch webhooks, CAP feed (apps.alerts) --------------------
# Attempts per e-mail / webhook delivery, and the exponential backoff between them:
# attempt n+1 waits ALERTS_RETRY_BASE_S * 2^(n-1) seconds, at most ALERTS_RETRY_MAX_S.
ALERTS_EMAIL_MAX_ATTEMPTS = env_int("ALERTS_EMAIL_MAX_ATTEMPTS", 5, minimum=1, maximum=20)
ALERTS_WEBHOOK_MAX_ATTEMPTS = env_int("ALERTS_WEBHOOK_MAX_ATTEMPTS", 6, minimum=1, maximum=20)
ALERTS_RETRY_BASE_S = env_int("ALERTS_RETRY_BASE_S", 15, minimum=1)
ALERTS_RETRY_MAX_S = env_int("ALERTS_RETRY_MAX_S", 3600, minimum=1)
# With CELERY_TASK_ALWAYS_EAGER (make run: tasks in-process, no worker) a retry's countdown
# is ignored: all attempts ran at once inside the publishing request (6 POSTs in 0.2 s, or
# 6 x ALERTS_WEBHOOK_TIMEOUT_S of waiting on a receiver that hangs). Off (the default), a
# failed attempt is recorded as failed, "not retried", and nothing is scheduled; the test
# suite turns it on to exercise the retry chain in-process.
ALERTS_RETRY_WHEN_EAGER = env_bool("ALERTS_RETRY_WHEN_EAGER", False)
# E-mails per task (they share one SMTP connection).
ALERTS_EMAIL_BATCH_SIZE = env_int("ALERTS_EMAIL_BATCH_SIZE", 50, minimum=1, maximum=1000)
ALERTS_WEBHOOK_TIMEOUT_S = env_float("ALERTS_WEBHOOK_TIMEOUT_S", 10.0, minimum=0.5)
# Webhook URLs must be https unless this is on (a CAD on the same private network).
ALERTS_WEBHOOK_ALLOW_HTTP = env_bool("ALERTS_WEBHOOK_ALLOW_HTTP", DEBUG)
# Webhook URLs must reach public addresses unless this is on: loopback, private and
# link-local ones (this server, its network, cloud metadata) are refused when the endpoint
# is saved and again, after a DNS look-up, before every POST.
ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", DEBUG)
# The "map" link in alert e-mails; {lat} and {lon} are filled in.
ALERTS_MAP_LINK = env_str(
    "ALERTS_MAP_LINK",
    "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}",
)
ALERTS_CAP_SENDER = env_str(
    "ALERTS_CAP_SENDER", "alerts@" + (SITE_URL.split("://", 1)[-1].split("/")[0].split(":")[0])
)
CELERY_BEAT_SCHEDULE["alerts-requeue-stalled"] = {
    "task": "alerts.requeue_stalled",
    "schedule": 60.0,
}

# --- Celery redelivery (docs/operations.md) ---------------------------------------------------
# A pool process killed mid-task is rejected and requeued at once (acks late, reject on
# worker lost, above). A whole worker killed leaves its unacknowledged message in Redis,
# which redelivers it after this timeout; it must exceed the longest countdown a task is
# queued with (alert retries wait up to ALERTS_RETRY_MAX_S), or that task would run twice.
CELERY_VISIBILITY_TIMEOUT_S = env_int(
    "CELERY_VISIBILITY_TIMEOUT_S", ALERTS_RETRY_MAX_S + 600, minimum=ALERTS_RETRY_MAX_S + 1
)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S}

# --- Privacy: retention (apps.privacy.conf has the defaults; docs/privacy.md) ---------------
# Days kept: summary pulses in no located shot, machine-filtered incidents (with their shots
# and pulses), audio of incidents decided "not gunfire", audio of declined or cancelled
# investigation requests. Published (and completed investigations') audio is never purged.
# Not below the sensors' 72 h buffer for pulses and filtered incidents.
RETENTION_PULSES_DAYS = env_int("RETENTION_PULSES_DAYS", 30, minimum=3)
RETENTION_FILTERED_INCIDENTS_DAYS = env_int("RETENTION_FILTERED_INCIDENTS_DAYS", 30, minimum=3)
RETENTION_DISMISSED_AUDIO_DAYS = env_int("RETENTION_DISMISSED_AUDIO_DAYS", 30, minimum=1)
# Audio of investigation requests declined or cancelled, by their closing (completed
# requests' audio is evidence, kept like published incident audio).
RETENTION_DECLINED_INVESTIGATION_AUDIO_DAYS = env_int(
    "RETENTION_DECLINED_INVESTIGATION_AUDIO_DAYS", 30, minimum=1
)
RETENTION_INTERVAL_S = env_int("RETENTION_INTERVAL_S", 3600, minimum=60, maximum=86400)
CELERY_BEAT_SCHEDULE["privacy-apply-retention"] = {
    "task": "privacy.apply_retention",
    "schedule": float(RETENTION_INTERVAL_S),
}

# --- Maps -----------------------------------------------------------------------------------
# Empty means no tiles: the map still shows coverage areas, beats and incidents (offline).
MAP_TILE_URL = env_str("MAP_TILE_URL", "")
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION", "")

_DEV_SERVER_FILTERS = [] if env_bool("LOG_SENSOR_REQUESTS", False) else ["quiet_sensor_traffic"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "quiet_sensor_traffic": {"()": "apps.core.log_filters.QuietSensorTraffic"},
        "quiet_in_process_task_success": {"()": "apps.core.log_filters.QuietInProcessTaskSuccess"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's default config gives "django" its own console handler; with the root's
        # every line came out twice (once bare, once with time and level).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # The development server's access log (make run): see QuietSensorTraffic.
        "django.channels.server": {"filters": _DEV_SERVER_FILTERS},
        # Embedded mode: no line per in-process task that succeeded (see the filter).
        "celery.app.trace": {
            "filters": ["quiet_in_process_task_success"] if CELERY_TASK_ALWAYS_EAGER else []
        },
    },
}
