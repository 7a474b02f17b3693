"""A real ASGI server (daphne in a subprocess, on the test database) and headless Chromium.

Browser tests drive the production stack: websockets and HTTP through daphne, pages in
Debian's Chromium through chromedriver.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

REPO_ROOT = Path(__file__).resolve().parents[1]
# The project's ASGI application plus static files.
ASGI_APP = "tests.asgi_static:application"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def current_database_url() -> str:
    """The URL of the database the tests run on (the test database, not the real one)."""
    s = connection.settings_dict
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    host = s["HOST"] or "127.0.0.1"
    port = s["PORT"] or "5432"
    return f"postgres://{auth}{'@' if auth else ''}{host}:{port}/{s['NAME']}"


class DaphneServer:
    """``daphne`` serving the project against the test database; restartable."""

    def __init__(self, *, env: dict[str, str], start_timeout_s: float = 30.0, app: str = ASGI_APP):
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None

    def start(self) -> DaphneServer:
        daphne = Path(sys.executable).with_name("daphne")
        self.process = subprocess.Popen(
            [str(daphne), "-b", "127.0.0.1", "-p", str(self.port), self.app],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode(errors="replace")
                raise RuntimeError(f"daphne exited: {output}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"daphne did not listen within {self.start_timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> DaphneServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def chromium(*, width: int = 1366, height: int = 768, exact_viewport: bool = False):
    """Headless Chromium; ``exact_viewport`` makes the page itself width x height."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    if exact_viewport:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
    return driver


def session_key(user, *, verified: bool = True) -> str:
    """The session cookie of ``user`` logged in (past the second factor unless not
    ``verified``), for a browser to take over with ``sign_in``."""
    from django.test import Client

    from tests.factories import login_verified

    client = Client()
    if verified:
        login_verified(client, user)
    else:
        client.force_login(user)
    return client.cookies["sessionid"].value


def sign_in(driver, base_url: str, session: str) -> None:
    """Hand the browser a session; a cookie can only be set on a page of the site."""
    driver.get(base_url + "/healthz")
    driver.add_cookie({"name": "sessionid", "value": session, "path": "/"})


def page_wait(driver, timeout: float, poll_frequency: float = 0.5):
    """A WebDriverWait that also retries when the page replaced an element between its
    look-up and its use: the live pages re-render their lists as events arrive."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver,
        timeout,
        poll_frequency=poll_frequency,
        ignored_exceptions=(StaleElementReferenceException,),
    )
