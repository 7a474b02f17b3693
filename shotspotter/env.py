"""Small typed readers for environment variables that fail loudly on bad values.

A misspelt boolean or a malformed URL must stop the process at start-up, not surface
hours later as a silently wrong default.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}"
    )


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}; got {number}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {value!r}") from None
    if number != number or (minimum is not None and number < minimum):
        raise ImproperlyConfigured(f"{name} must be a number of at least {minimum}; got {value!r}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_ed25519_key_file(name: str) -> str:
    """A path to an Ed25519 private key (PEM, unencrypted), checked now; "" when unset."""
    value = env_str(name)
    if value is None:
        return ""
    from apps.sensors.signing import KeyFormatError, load_private_key_pem  # free of Django

    try:
        data = Path(value).read_bytes()
    except OSError as error:
        raise ImproperlyConfigured(f"{name}: cannot read {value}: {error.strerror}") from None
    try:
        load_private_key_pem(data)
    except KeyFormatError as error:
        raise ImproperlyConfigured(f"{name}: {value}: {error}") from None
    return value


# Seconds a SQLite writer waits for the write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 20


def sqlite_options(*, timeout_s: float) -> dict:
    """Connection options that let the embedded SQLite take `make run`'s concurrent writers.

    SQLite has one write lock per file. Without these, a writer that finds it taken fails
    at once ("database is locked"), and a transaction that starts as a reader and then
    writes (Django's default DEFERRED mode) cannot wait for it at all, since waiting could
    deadlock. So: WAL lets readers go on while one writer writes; every transaction
    takes the write lock at BEGIN (IMMEDIATE), where waiting is safe; a busy timeout makes
    it wait for the lock instead of failing. synchronous=NORMAL is WAL's usual pairing
    (durable across a process crash; a power cut may lose the last commits).
    """
    return {
        "transaction_mode": "IMMEDIATE",
        "timeout": timeout_s,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }


def parse_database_url(url: str) -> dict:
    """postgres://user:password@host:port/name or sqlite:///path/to.db."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        name = parts.path.lstrip("/")
        if not name:
            raise ImproperlyConfigured("DATABASE_URL must name a database, e.g. postgres://u@h/db")
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(name),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
        }
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        elif path.startswith("/"):
            path = path[1:]
        if not path:
            raise ImproperlyConfigured(
                "DATABASE_URL for SQLite needs a path, e.g. sqlite:///db.sqlite3"
            )
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "OPTIONS": sqlite_options(timeout_s=SQLITE_BUSY_TIMEOUT_S),
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported (use postgres:// or sqlite:///)"
    )


def parse_email_url(url: str) -> dict:
    """smtp://user:pass@host:port, smtp+tls://…, smtp+ssl://…, console://, file:///dir."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "file":
        if not parts.path:
            raise ImproperlyConfigured("EMAIL_URL file:// needs a directory, e.g. file:///tmp/mail")
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": unquote(parts.path),
        }
    if scheme in ("smtp", "smtp+tls", "smtp+ssl"):
        if not parts.hostname:
            raise ImproperlyConfigured(
                "EMAIL_URL must name a host, e.g. smtp://mail.example.org:25"
            )
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": parts.port
            or (465 if scheme == "smtp+ssl" else 587 if scheme == "smtp+tls" else 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": scheme == "smtp+tls",
            "EMAIL_USE_SSL": scheme == "smtp+ssl",
        }
    raise ImproperlyConfigured(
        f"EMAIL_URL scheme {scheme!r} is not supported (smtp, smtp+tls, smtp+ssl, console, file)"
    )
