"""Django's Redis cache with one connection pool per process instead of one per request.

Django keeps cache objects per request context, and under ASGI every request has a
context of its own, so the stock backend builds a new client, a new connection pool and
a new TCP connection to Redis for each request (the sensor API's replay-window and rate
limit checks would pay that on every batch). Here all cache objects with the same
servers and options share one client; redis-py's pools are thread-safe and reset
themselves in a forked child.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache
from django.utils.functional import cached_property

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


class SharedPoolRedisCache(RedisCache):
    @cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client
