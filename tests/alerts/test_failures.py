"""The delivery log's words for errors stored as raw text (also rows stored before)."""

from __future__ import annotations

import pytest

from apps.alerts.failures import failure_message


@pytest.mark.parametrize(
    ("error", "status", "attempt", "shown"),
    [
        ("", None, 1, ""),
        ("HTTP 404", 404, 1, "The receiver answered HTTP 404 (Not Found)."),
        (
            "HTTP 429 (gave up)",
            429,
            6,
            "The receiver answered HTTP 429 (Too Many Requests). Gave up after 6 attempts.",
        ),
        ("HTTP 599", 599, 1, "The receiver answered HTTP 599."),
        (
            "ConnectTimeout: HTTPSConnectionPool(host='cad.example.org', port=443): Max retries "
            "exceeded with url: /x (Caused by ConnectTimeoutError(<urllib3.connection."
            "HTTPSConnection object at 0x7f>, 'Connection to cad.example.org timed out. "
            "(connect timeout=10.0)'))",
            None,
            1,
            "Timed out: could not connect to cad.example.org within the time limit.",
        ),
        (
            "SSLError: HTTPSConnectionPool(host='cad.example.org', port=443): Max retries "
            "exceeded with url: /x (Caused by SSLError(SSLCertVerificationError(1, '[SSL: "
            "CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate "
            "(_ssl.c:1006)')))",
            None,
            1,
            "TLS error: no secure connection to cad.example.org: its certificate is not trusted",
        ),
        (
            "ConnectionError: HTTPSConnectionPool(host='cad.example.org', port=443): Max retries "
            "exceeded with url: /x (Caused by NewConnectionError('<urllib3.connection."
            "HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno 101] "
            "Network is unreachable'))",
            None,
            1,
            "Network unreachable: no route to cad.example.org.",
        ),
        (
            "ConnectionError: ('Connection aborted.', RemoteDisconnected('Remote end closed "
            "connection without response')) (gave up)",
            None,
            2,
            "Connection closed by the receiver before it answered. Gave up after 2 attempts.",
        ),
        (
            "ConnectionError: Looking up cad.example.org failed: [Errno -2] Name or service "
            "not known",
            None,
            1,
            "DNS failure: the host name cad.example.org could not be resolved.",
        ),
        (
            "HTTP 503 (not retried: tasks run in-process)",
            503,
            1,
            "The receiver answered HTTP 503 (Service Unavailable). Not retried: this server "
            "runs its tasks in-process",
        ),
        ("Endpoint deactivated.", None, 1, "Not sent: the endpoint was deactivated."),
        ("RuntimeError: what", None, 1, "Network error: the POST to the receiver failed"),
    ],
)
def test_each_failure_kind_reads_as_a_sentence(error, status, attempt, shown):
    text = failure_message(error=error, response_status=status, attempt=attempt)
    assert text.startswith(shown) and (text == "" or text.endswith("."))
    assert "Errno" not in text and "Pool" not in text
