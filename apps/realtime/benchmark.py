"""The client side of ``manage.py bench_realtime``: many real websocket clients, one process.

Run as ``python -m apps.realtime.benchmark`` (no Django: daphne's Twisted reactor owns
autobahn in a Django process, and a separate process keeps the clients' work off the
publisher). Each client is an autobahn connection (daphne's own websocket library) with
its own session cookie. Line protocol, JSON per line:

* stdin, first line: ``{"path", "parallel", "timeout_s", "clients": [{"name", "port",
  "session_key"}]}``; stdout answers ``{"connected": [names], "connect_s", "retries"}``.
* stdout then: one ``{"name", "at", "kind", "incident_id"}`` per event received, ``at``
  being ``time.monotonic()`` (the system-wide monotonic clock, so comparable with the
  publisher's own ``time.monotonic()``).
* stdin ``stop``: the clients close; stdout ends with ``{"closed": {name: code}}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


def _emit(line: dict) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def _main() -> None:
    from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    plan = json.loads(await reader.readline())
    closed: dict[str, int | None] = {}
    transports = []

    class Client(WebSocketClientProtocol):
        def onOpen(self):  # noqa: N802 - autobahn's hook names
            if not self.factory.opened.done():
                self.factory.opened.set_result(True)

        def onMessage(self, payload, isBinary):  # noqa: N802, N803
            at = time.monotonic()
            try:
                message = json.loads(payload)
            except ValueError:
                return
            if isinstance(message, dict) and message.get("type") == "event":
                _emit(
                    {
                        "name": self.factory.name,
                        "at": at,
                        "kind": message.get("kind"),
                        "incident_id": message.get("incident_id"),
                    }
                )

        def onClose(self, wasClean, code, reason):  # noqa: N802, N803
            if not self.factory.opened.done():
                self.factory.opened.set_result(False)  # refused handshake: never connected
            elif self.factory.opened.result():
                closed[self.factory.name] = code  # dropped after connecting

    gate = asyncio.Semaphore(plan["parallel"])
    timeout_s = plan["timeout_s"]

    retries = [0]

    async def connect(client: dict) -> str | None:
        # daphne drops a handshake the application has not accepted within 5 s (its
        # --websocket_connect_timeout); a connect storm on a loaded machine retries.
        for attempt in range(3):
            name = await connect_once(client)
            if name is not None:
                return name
            retries[0] += 1
            await asyncio.sleep(0.5 * (attempt + 1))
        return None

    async def connect_once(client: dict) -> str | None:
        port = client["port"]
        factory = WebSocketClientFactory(
            f"ws://127.0.0.1:{port}{plan['path']}?after=0",
            headers={
                "Cookie": f"sessionid={client['session_key']}",
                "Origin": f"http://127.0.0.1:{port}",
            },
        )
        factory.protocol = Client
        factory.name = client["name"]
        factory.opened = loop.create_future()
        async with gate:
            try:
                transport, _ = await asyncio.wait_for(
                    loop.create_connection(factory, "127.0.0.1", port), timeout_s
                )
                transports.append(transport)
                ok = await asyncio.wait_for(factory.opened, timeout_s)
            except (TimeoutError, OSError):
                return None
        return client["name"] if ok else None

    began = time.monotonic()
    names = await asyncio.gather(*(connect(c) for c in plan["clients"]))
    _emit(
        {
            "connected": [n for n in names if n is not None],
            "connect_s": time.monotonic() - began,
            "retries": retries[0],
        }
    )
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"stop":
            break
    # Everything still open when told to stop counts as never dropped.
    still_open = {n: None for n in names if n is not None and n not in closed}
    dropped = dict(closed)
    for transport in transports:
        transport.close()
    await asyncio.sleep(0.2)
    _emit({"closed": {**still_open, **dropped}})


if __name__ == "__main__":
    asyncio.run(_main())
