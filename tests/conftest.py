"""Shared fixtures: real services where a test asks for them, skipped clearly otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _deepen_live_server_backlog() -> None:
    # Django's test server listens with a backlog of 10; concurrency tests open more
    # connections at once than that, and the kernel then resets them. A production
    # server (daphne) listens far deeper, so deepen it rather than throttle the tests.
    from django.core.servers.basehttp import WSGIServer

    WSGIServer.request_queue_size = 128


_deepen_live_server_backlog()


def shared_data_dir() -> Path:
    return Path(os.environ.get("SHOTSPOTTER_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not present at {path}")
    return path


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI does)")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL (CI does)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)


class SMTPSink:
    """What a real SMTP server (aiosmtpd) received: parsed messages and raw envelopes.

    It can also refuse, like a real server does:

    - ``sink.data_replies.append("451 4.3.0 Try again later")``: the next DATA command is
      answered with that reply (one entry per message, in order) and nothing is stored;
    - ``sink.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"``: RCPT TO for
      that address is refused with that reply every time;
    - ``sink.mail_replies.append("553 5.1.8 Sender address rejected")``: the next MAIL FROM
      is answered with that reply (one entry per message, in order);
    - ``sink.size_limit = 2000``: from the next connection on, the server advertises
      ``SIZE 2000`` and aiosmtpd itself refuses a larger ``MAIL FROM:<...> SIZE=n`` (552).
    """

    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self.envelopes: list = []
        self.messages: list = []
        self.data_replies: list[str] = []
        self.rcpt_replies: dict[str, str] = {}
        self.mail_replies: list[str] = []
        self.refused: list[tuple[str, str]] = []  # (what, reply) of every refusal
        self.size_limit: int | None = None  # None: aiosmtpd's default (32 MiB)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_replies:
            reply = self.mail_replies.pop(0)
            self.refused.append((address, reply))
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            self.refused.append((address, reply))
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        import email
        from email import policy

        if self.data_replies:
            reply = self.data_replies.pop(0)
            self.refused.append((",".join(envelope.rcpt_tos), reply))
            return reply
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        self.envelopes.clear()
        self.messages.clear()

    @staticmethod
    def body(message, subtype: str = "plain") -> str:
        """The text/plain (or text/html) part of a received message."""
        part = message.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1 (free port) with Django's SMTP backend pointed at it.

    Yields an ``SMTPSink``: ``.messages`` are ``email.message.EmailMessage`` objects,
    ``.envelopes`` the raw aiosmtpd envelopes (``mail_from``, ``rcpt_tos``).
    """
    import socket

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import DATA_SIZE_DEFAULT, SMTP

    class SizedController(Controller):
        def factory(self):  # one SMTP session per connection, with the sink's size limit
            limit = sink.size_limit or DATA_SIZE_DEFAULT
            return SMTP(self.handler, **{**self.SMTP_kwargs, "data_size_limit": limit})

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = SMTPSink("127.0.0.1", port)
    controller = SizedController(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    try:
        yield sink
    finally:
        controller.stop()
