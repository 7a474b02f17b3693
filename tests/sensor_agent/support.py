"""Real network parts for agent tests: a TCP relay that can be switched off, a stub server."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import http_sf
import numpy as np

from apps.sensor_agent.client import utc_iso
from apps.sensor_agent.config import config_from_dict
from apps.sensors.signing import (
    SERVER_SIGNATURE_HEADER,
    generate_private_key,
    public_key_pem,
    sign_server_answer,
)


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


def signature_parameters(entry: dict) -> dict:
    """The parameters (keyid, nonce, created) of a recorded request's signature."""
    parsed = http_sf.parse(entry["headers"]["signature-input"].encode(), tltype="dictionary")
    ((_label, (_components, params)),) = parsed.items()
    return dict(params)


class _LocalServer:
    """A threaded HTTP server on 127.0.0.1 serving ``handler``; ``received`` holds the
    requests it recorded (dicts with at least ``method`` and ``path``)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.received: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
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


class StubSensorServer(_LocalServer):
    """A local HTTP server that plays the audio-request and heartbeat endpoints and records
    requests.

    It answers polls as the real server does: the pending ``audio_requests``, for the
    polling sensor, echoing the poll's nonce, signed with ``signing_key`` (the key the
    test agents trust). ``answer`` replaces that (a forger, a replayer): it gets the
    recorded poll and returns the body and headers to send.
    """

    def __init__(self, signing_key=None):
        self.signing_key = signing_key or generate_private_key()
        self.audio_requests: list[dict] = []
        self.put_status = 201
        self.answer = None
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

            def _reply(self, status, payload, content_type="application/json", headers=None):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                entry = self._record()
                if self.path == "/api/v1/sensor/audio-requests":
                    answer = stub.answer or stub.signed_answer
                    body, headers = answer(entry)
                    self._reply(200, body, headers=headers)
                else:
                    self._reply(404, {"title": "Not found"}, "application/problem+json")

            def do_PUT(self):
                self._record()
                self._reply(stub.put_status, {"stored": stub.put_status == 201})

            def do_POST(self):
                self._record()
                if self.path == "/api/v1/sensor/heartbeat":
                    # As the real server: its own clock's time, which the agent measures
                    # its offset against.
                    self._reply(200, {"serial": "S-0001", "server_time_utc": utc_iso(time.time())})
                else:
                    self._reply(202, {"accepted": 0, "duplicates": 0})

        super().__init__(Handler)

    @property
    def public_key(self):
        return self.signing_key.public_key()

    def signed_answer(
        self,
        entry: dict,
        *,
        serial: str | None = None,
        nonce: str | None = None,
        issued_at: float | None = None,
        requests: list[dict] | None = None,
        key=None,
    ) -> tuple[bytes, dict]:
        """The server's answer to the recorded poll ``entry`` (each part overridable)."""
        params = signature_parameters(entry)
        body = json.dumps(
            {
                "serial": params["keyid"] if serial is None else serial,
                "nonce": params["nonce"] if nonce is None else nonce,
                "issued_at": utc_iso(time.time() if issued_at is None else issued_at),
                "requests": self.audio_requests if requests is None else requests,
            }
        ).encode()
        signature = sign_server_answer(body=body, private_key=key or self.signing_key)
        return body, {SERVER_SIGNATURE_HEADER: signature}

    def polls(self) -> list[dict]:
        return [r for r in self.received if r["method"] == "GET"]


def server_key_file(directory: Path, public_key=None) -> Path:
    """Write the server public key an agent trusts (default: the test server's own)."""
    if public_key is None:
        from apps.sensors.server_key import server_signing_key

        public_key = server_signing_key().public_key()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "server-public-key.pem"
    path.write_bytes(public_key_pem(public_key))
    return path


def agent_config(
    data_dir: Path, *, server_url: str, serial: str = "S-0001", server_key=None, **extra
):
    """An agent configuration; it trusts ``server_key`` (an Ed25519 public key; default
    the key this test server signs with, as for ``live_server``)."""
    raw = {
        "server_url": server_url,
        "serial": serial,
        "private_key": str(data_dir / "unused.pem"),
        "server_public_key": str(server_key_file(data_dir, server_key)),
        "data_dir": str(data_dir),
        "request_timeout_s": 5,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        **extra,
    }
    return config_from_dict(raw, base=data_dir)


def ramp(n: int, offset: int = 0) -> np.ndarray:
    """Samples whose values encode their index, so a cut can be checked sample by sample."""
    return (((np.arange(n) + offset) % 30000) - 15000).astype(np.int16)


def audio_request(request_id: int, start: float, end: float, **extra) -> dict:
    """A pending audio request as the server lists it (12 kHz, expiring in ten minutes);
    ``extra`` overrides any field."""
    return {
        "id": request_id,
        "incident": "42-17",
        "start_utc": utc_iso(start),
        "end_utc": utc_iso(end),
        "sample_rate": 12_000,
        "expires_at": utc_iso(time.time() + 600),
        **extra,
    }


def record_ten_minutes(buffer, *, rate: int) -> float:
    """Ten minutes of ``ramp`` audio in ``buffer`` that ended 30 s ago, in 30 s chunks as
    an input delivers them; returns its start (whole seconds: windows fall on samples)."""
    start = float(round(time.time()) - 630)
    for k in range(20):
        buffer.write(ramp(30 * rate, 30 * rate * k), sample_rate=rate, start=start + 30 * k)
    return start


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


HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


class TamperingProxy(_LocalServer):
    """A man in the middle over real HTTP: forwards every request to ``target`` and
    hands the audio-requests answers to ``tamper(body, headers) -> (body, headers)``
    (None: passed on untouched). It records what passed through, so a test sees whether
    any audio left the sensor. The Host header is kept, so the sensors' signatures (over
    the URL they used) still verify at the server."""

    def __init__(self, target_url: str):
        import requests

        self.target = target_url.rstrip("/")
        self.tamper = None
        proxy = self
        session = requests.Session()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.received.append({"method": self.command, "path": self.path, "body": body})
                upstream = session.request(
                    self.command,
                    proxy.target + self.path,
                    data=body or None,
                    headers=dict(self.headers.items()),
                    timeout=30,
                    allow_redirects=False,
                )
                data, headers = upstream.content, dict(upstream.headers)
                if self.path.startswith("/api/v1/sensor/audio-requests") and proxy.tamper:
                    data, headers = proxy.tamper(data, headers)
                self.send_response(upstream.status_code)
                for name, value in headers.items():
                    if name.lower() not in HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _forward

        super().__init__(Handler)
