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

from django.core.cache import caches
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


# KEYS[1] the counter, the other KEYS go with it; ARGV[1] the amount taken.
_SUBTRACT_OR_DELETE = """
local left = tonumber(redis.call('GET', KEYS[1]) or '0') - tonumber(ARGV[1])
if left > 0 then
    redis.call('DECRBY', KEYS[1], ARGV[1])
    return left
end
redis.call('DEL', unpack(KEYS))
return 0
"""


def subtract_or_delete(*, counter: str, amount: int, with_keys: list[str]) -> int:
    """Take ``amount`` off the integer ``counter`` in the default cache; when nothing is
    left, delete it and ``with_keys``. What is left (0 if deleted).

    On Redis in one script, so an increment that lands in between is neither lost nor
    taken twice. Other caches (the in-memory one of ``make run`` without Redis) do the
    same in steps.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        names = [backend.make_and_validate_key(name) for name in (counter, *with_keys)]
        client = backend._cache.get_client(names[0], write=True)
        return int(client.eval(_SUBTRACT_OR_DELETE, len(names), *names, amount))
    left = int(backend.get(counter) or 0) - amount
    if left > 0:
        backend.decr(counter, amount)
        return left
    backend.delete_many([counter, *with_keys])
    return 0
