import pytest
from django.core.exceptions import ImproperlyConfigured

from shotspotter import env


def test_env_bool_accepts_words_and_refuses_typos(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env.env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "Off")
    assert env.env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env.env_bool("FLAG", False)


def test_env_int_bounds(monkeypatch):
    monkeypatch.setenv("N", "12")
    assert env.env_int("N", 1, minimum=1, maximum=20) == 12
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env.env_int("N", 5, minimum=1)
    monkeypatch.setenv("N", "five")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env.env_int("N", 5)


def test_database_url_postgres_and_sqlite():
    pg = env.parse_database_url("postgres://app:s%40cret@db.internal:5433/shots?sslmode=require")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "app",
        "s@cret",
        "db.internal",
        "5433",
        "shots",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    assert env.parse_database_url("sqlite:////var/lib/db.sqlite3")["NAME"] == "/var/lib/db.sqlite3"
    assert env.parse_database_url("sqlite:///db.sqlite3")["NAME"] == "db.sqlite3"
    with pytest.raises(ImproperlyConfigured, match="not supported"):
        env.parse_database_url("mysql://x/y")
    with pytest.raises(ImproperlyConfigured, match="name a database"):
        env.parse_database_url("postgres://u@h/")


def test_email_url_variants():
    smtp = env.parse_email_url("smtp+tls://user:pw@mail.example.org")
    assert smtp["EMAIL_HOST"] == "mail.example.org"
    assert smtp["EMAIL_PORT"] == 587 and smtp["EMAIL_USE_TLS"] and not smtp["EMAIL_USE_SSL"]
    assert env.parse_email_url("smtp://localhost:2525")["EMAIL_PORT"] == 2525
    assert "console" in env.parse_email_url("console://")["EMAIL_BACKEND"]
    with pytest.raises(ImproperlyConfigured, match="host"):
        env.parse_email_url("smtp://")
    with pytest.raises(ImproperlyConfigured):
        env.parse_email_url("carrier-pigeon://coop")
