"""``manage.py bench_pipeline`` refuses clearly where it cannot run (not the bench itself)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.integrations import benchmark


def test_refuses_on_sqlite_with_a_clear_message():
    with pytest.raises(benchmark.BenchRefused, match="needs PostgreSQL: set DATABASE_URL"):
        benchmark.check_environment(
            databases={"default": {"ENGINE": "django.db.backends.sqlite3"}},
            redis_url="redis://127.0.0.1:6379/0",
        )


def test_the_command_refuses_on_the_sqlite_test_database():
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip("configured for PostgreSQL: the command would run the bench")
    with pytest.raises(CommandError, match="needs PostgreSQL: set DATABASE_URL=postgres://"):
        call_command("bench_pipeline", stdout=io.StringIO())


def test_refuses_without_redis(settings):
    with pytest.raises(benchmark.BenchRefused, match="needs Redis: set REDIS_URL"):
        benchmark.check_environment(
            databases={"default": {"ENGINE": "django.db.backends.postgresql"}}, redis_url=None
        )


def test_refuses_when_redis_is_unreachable():
    url = f"redis://127.0.0.1:{benchmark.free_port()}/0"
    with pytest.raises(benchmark.BenchRefused, match="is unreachable"):
        benchmark.check_environment(
            databases={"default": {"ENGINE": "django.db.backends.postgresql"}}, redis_url=url
        )


@pytest.mark.parametrize("option", ["--seconds=0", "--sensors=-1", "--shots=0", "--daphne=0"])
def test_bad_arguments_are_refused_before_anything_starts(option):
    with pytest.raises(CommandError, match="must be positive"):
        call_command("bench_pipeline", option, stdout=io.StringIO())


def test_percentile_and_urls():
    assert benchmark.percentile([5, 1, 3, 2, 4], 0.5) == 3
    assert benchmark.percentile(list(range(1, 101)), 0.95) == 95
    assert benchmark.redis_url_with_db("redis://h:6379/0", 15) == "redis://h:6379/15"
    assert (
        benchmark.database_url({"USER": "u", "HOST": "h", "PORT": "5"}, "bench_pipeline")
        == "postgres://u@h:5/bench_pipeline"
    )
