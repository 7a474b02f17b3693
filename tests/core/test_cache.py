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
