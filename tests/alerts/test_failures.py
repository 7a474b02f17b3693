"""The delivery logs' words for errors stored as raw text (also rows stored before)."""

from __future__ import annotations

import pytest

from apps.alerts.failures import email_failure_message, failure_message


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


NOT_THE_ADDRESS = " The address is not at fault: platform staff must fix the mail settings."


@pytest.mark.parametrize(
    ("error", "code", "attempt", "shown"),
    [
        ("", None, 1, ""),
        (
            "550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown in local "
            "recipient table",
            550,
            1,
            "The mail server refused the recipient address (SMTP 550 5.1.1: Recipient address "
            "rejected: User unknown in local recipient table); no alerts go to it until "
            "someone clicks “Address works again”.",
        ),
        (
            "550 No such user here",
            550,
            1,
            "The mail server refused the recipient address (SMTP 550: No such user here);",
        ),
        (
            "450 4.2.1 <busy@example.org>: Recipient address rejected: Mailbox busy",
            450,
            1,
            "The mail server temporarily refused the recipient address (SMTP 450 4.2.1: "
            "Recipient address rejected: Mailbox busy).",
        ),
        (
            "553 5.1.8 <alerts@siren.example.org>: Sender address rejected: Domain not found",
            553,
            1,
            "The mail server refused the sender address (SMTP 553 5.1.8: Sender address "
            "rejected: Domain not found)." + NOT_THE_ADDRESS,
        ),
        (
            "535 5.7.8 Authentication credentials invalid (gave up)",
            535,
            5,
            "The mail server refused the platform's log-in (SMTP 535 5.7.8: Authentication "
            "credentials invalid)." + NOT_THE_ADDRESS + " Gave up after 5 attempts.",
        ),
        (
            "SMTPNotSupportedError: SMTP AUTH extension not supported by server.",
            None,
            1,
            "The mail server does not offer log-in (SMTP AUTH)." + NOT_THE_ADDRESS,
        ),
        (
            "552 5.3.4 Message size exceeds fixed limit",
            552,
            1,
            "The mail server refused the message as too large (SMTP 552 5.3.4: Message size "
            "exceeds fixed limit).",
        ),
        (
            "552 5.2.2 <full@example.org>: Mailbox full, quota exceeded",
            552,
            1,
            "The mail server refused the recipient address (SMTP 552 5.2.2: Mailbox full, "
            "quota exceeded);",
        ),
        (
            "451 4.3.0 Mailbox busy, try again later",
            451,
            1,
            "The mail server deferred the message (SMTP 451 4.3.0: Mailbox busy, try again later).",
        ),
        (
            "554 5.7.1 Relay access denied",
            554,
            1,
            "The mail server refused the message (SMTP 554 5.7.1: Relay access denied).",
        ),
        (
            "ConnectionRefusedError: [Errno 111] Connection refused (gave up)",
            None,
            3,
            "Connection refused by the mail server: nothing accepts connections at that port."
            + NOT_THE_ADDRESS
            + " Gave up after 3 attempts.",
        ),
        (
            "TimeoutError: timed out",
            None,
            1,
            "Timed out: no answer from the mail server within the time limit." + NOT_THE_ADDRESS,
        ),
        (
            "gaierror: [Errno -2] Name or service not known",
            None,
            1,
            "DNS failure: the host name of the mail server could not be resolved."
            + NOT_THE_ADDRESS,
        ),
        (
            "SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
            "failed: self-signed certificate (_ssl.c:1006)",
            None,
            1,
            "TLS error: no secure connection to the mail server: its certificate is not trusted",
        ),
        (
            "SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)",
            None,
            1,
            "TLS error: no secure connection to the mail server: it did not answer in TLS (is "
            "the port plain SMTP?).",
        ),
        (
            "SMTPNotSupportedError: STARTTLS extension not supported by server.",
            None,
            1,
            "TLS error: the mail server does not offer STARTTLS." + NOT_THE_ADDRESS,
        ),
        (
            "SMTPServerDisconnected: Connection unexpectedly closed",
            None,
            1,
            "Connection closed by the mail server before it answered." + NOT_THE_ADDRESS,
        ),
        (
            "OSError: [Errno 101] Network is unreachable (not retried: tasks run in-process)",
            None,
            1,
            "Network unreachable: no route to the mail server." + NOT_THE_ADDRESS + " Not "
            "retried: this server runs its tasks in-process",
        ),
        (
            "ValueError: Header values may not contain linefeed or carriage return characters",
            None,
            1,
            "The platform could not send this e-mail (an internal error; staff have details).",
        ),
        (
            "Address marked permanently failed: 550 5.1.1 No such user",
            None,
            1,
            "Not sent: this address refused mail permanently before (SMTP 550 5.1.1: No such "
            "user). Click “Address works again” once it is fixed.",
        ),
    ],
)
def test_each_email_failure_kind_reads_as_a_sentence(error, code, attempt, shown):
    text = email_failure_message(error=error, smtp_code=code, attempt=attempt)
    assert text.startswith(shown) and (text == "" or text.endswith("."))
    assert "Errno" not in text and "Error:" not in text.replace("Error: message", "")
    assert "<" not in text


def test_a_skipped_email_names_the_refusal_it_was_skipped_for():
    """A skip inside a batch stores the address's last error as it is (no prefix)."""
    assert email_failure_message(error="550 5.1.1 No such user", skipped=True) == (
        "Not sent: this address refused mail permanently before (SMTP 550 5.1.1: No such "
        "user). Click “Address works again” once it is fixed."
    )
