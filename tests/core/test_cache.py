"""The Redis cache shares one connection pool per process across request contexts."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.core.cache import caches


def _client_count(client: redis.Redis) -> int:
    return len(client.client_list())


@pytest.mark.redis
def test_cache_objects_of_many_requests_share_one_pool_and_connection():
    # Django builds a cache object per request context (per request under ASGI); the stock
    # backend then opens a connection per request. Fifty "requests" must not.
    observer = redis.Redis.from_url(settings.REDIS_URL)
    before = _client_count(observer)
    objects = [caches.create_connection("default") for _ in range(50)]
    for n, cache in enumerate(objects):
        cache.set(f"shared-pool-test-{n}", n, timeout=30)
    assert objects[0]._cache is objects[-1]._cache
    assert [objects[-1 - n].get(f"shared-pool-test-{n}") for n in range(50)] == list(range(50))
    assert _client_count(observer) - before <= 2
    objects[0].delete_many([f"shared-pool-test-{n}" for n in range(50)])


@pytest.mark.parametrize("backend", ["redis", "memory"])
def test_subtract_or_delete_takes_exactly_the_amount_and_deletes_only_when_none_is_left(
    backend, settings
):
    """The audit's repeat count after a record commits: what was reported goes, what was
    counted since stays (on Redis in one script; in memory for ``make run``)."""
    from apps.core.cache import subtract_or_delete

    if backend == "redis" and not settings.REDIS_URL:
        pytest.skip("needs Redis: set REDIS_URL (CI does)")
    if backend == "memory":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache = caches["default"]
    assert ("Redis" in type(cache).__name__) == (backend == "redis")
    names = ["subtract-test:n", "subtract-test:first", "subtract-test:last"]
    cache.delete_many(names)
    cache.set_many({names[0]: 5, names[1]: "10:00", names[2]: "10:05"}, timeout=60)

    assert subtract_or_delete(counter=names[0], amount=3, with_keys=names[1:]) == 2
    assert cache.get_many(names) == {names[0]: 2, names[1]: "10:00", names[2]: "10:05"}
    cache.incr(names[0])  # counted meanwhile
    assert subtract_or_delete(counter=names[0], amount=2, with_keys=names[1:]) == 1
    assert subtract_or_delete(counter=names[0], amount=1, with_keys=names[1:]) == 0
    assert cache.get_many(names) == {}
    assert subtract_or_delete(counter=names[0], amount=4, with_keys=names[1:]) == 0
