"""Real network parts for agent tests: a TCP relay that can be switched off, a stub server."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from apps.sensor_agent.config import config_from_dict


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Relay:
    """A TCP relay on a fixed local port to a target server.

    ``stop()`` closes the port (connection refused: the server is unreachable); with
    ``drop_replies`` the request reaches the server but the reply never comes back
    (the acknowledgement is lost on the way).
    """

    def __init__(self, target_host: str, target_port: int, port: int | None = None):
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.drop_replies = False
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _accept(self) -> None:
        listener = self._listener
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        drop = self.drop_replies

        def pump(src, dst, forward: bool):
            try:
                while data := src.recv(65536):
                    if forward:
                        dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        up = threading.Thread(target=pump, args=(client, upstream, True), daemon=True)
        up.start()
        if drop:
            # Read the server's reply, then cut the client off without it.
            try:
                upstream.settimeout(10)
                upstream.recv(65536)
            except OSError:
                pass
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            return
        pump(upstream, client, True)
        up.join(timeout=5)
        client.close()
        upstream.close()


class StubSensorServer:
    """A local HTTP server that plays the audio-request endpoints and records requests."""

    def __init__(self):
        self.audio_requests: list[dict] = []
        self.received: list[dict] = []
        self.put_status = 201
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                entry = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                }
                stub.received.append(entry)
                return entry

            def _reply(self, status, payload, content_type="application/json"):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._record()
                if self.path == "/api/v1/sensor/audio-requests":
                    self._reply(200, {"requests": stub.audio_requests})
                else:
                    self._reply(404, {"title": "Not found"}, "application/problem+json")

            def do_PUT(self):
                self._record()
                self._reply(stub.put_status, {"stored": stub.put_status == 201})

            def do_POST(self):
                self._record()
                self._reply(202, {"accepted": 0, "duplicates": 0})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def puts(self) -> list[dict]:
        return [r for r in self.received if r["method"] == "PUT"]


def agent_config(data_dir: Path, *, server_url: str, serial: str = "S-0001", **extra):
    raw = {
        "server_url": server_url,
        "serial": serial,
        "private_key": str(data_dir / "unused.pem"),
        "data_dir": str(data_dir),
        "request_timeout_s": 5,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        **extra,
    }
    return config_from_dict(raw, base=data_dir)


def impulses_audio(*, seconds: float, rate: int, times_s, seed: int = 1) -> np.ndarray:
    """Quiet noise with sharp decaying impulses at the given offsets (fractions of FS)."""
    rng = np.random.default_rng(seed)
    audio = rng.normal(0, 0.002, int(seconds * rate))
    for t in times_s:
        n = int(round(t * rate))
        k = np.arange(int(0.03 * rate))
        burst = 0.6 * np.exp(-k / (0.004 * rate)) * np.sin(2 * np.pi * 900 * k / rate)
        audio[n : n + len(k)] += burst[: len(audio) - n]
    return audio.astype(np.float32)
