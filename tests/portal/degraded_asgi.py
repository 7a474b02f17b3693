"""The browser tests' ASGI app with a websocket route that can be taken away.

While the file named by ``WEBSOCKETS_OFF_FILE`` exists the server has no websocket route
(every handshake is refused, as behind a proxy without websocket support); HTTP, static
files and everything else are the project's own.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.asgi_static import application as project_application

SWITCH = Path(os.environ["WEBSOCKETS_OFF_FILE"])


async def application(scope, receive, send):
    if scope["type"] == "websocket" and SWITCH.exists():
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1000})  # handshake refused (HTTP 403)
        return None
    return await project_application(scope, receive, send)
