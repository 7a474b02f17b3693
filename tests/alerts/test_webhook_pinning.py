"""Dispatch webhooks connect to the address that was vetted, never to a second DNS answer.

Real HTTP(S) servers on loopback addresses; only the resolver is replaced (a name that
answers one thing to the check and another to whoever asks next: DNS rebinding).
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apps.alerts.models import DeliveryStatus, WebhookDelivery
from apps.alerts.pinned_http import pinned_post
from tests.alerts.support import (
    Receiver,
    make_endpoint,
    webhook_scene,
)

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"  # a public unicast address; nothing of ours listens there


class RebindingResolver:
    """``socket.getaddrinfo`` for every name, except that ``name`` answers ``answers`` in
    turn (the last one repeats). Counts the look-ups of ``name``."""

    def __init__(self, name: str, answers: list[str]):
        self.name, self.answers, self.calls = name, answers, 0
        self.real = socket.getaddrinfo

    def __call__(self, host, port, *args, **kwargs):
        if str(host).rstrip(".").lower() != self.name:
            return self.real(host, port, *args, **kwargs)
        address = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]


@pytest.fixture
def scene():
    return webhook_scene()


def test_a_name_that_rebinds_to_a_private_address_after_the_check_gets_nothing(
    settings, monkeypatch, publish, scene
):
    """The look-up before the POST answers a public address; any later look-up answers
    127.0.0.1, where a real receiver listens. The POST used to look the name up again
    (in urllib3) and reached the receiver; now it connects to the vetted address only,
    and the retry, which looks up afresh, is refused."""
    agency, boss, incident = scene
    settings.ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.ALERTS_WEBHOOK_TIMEOUT_S = 1.0
    resolver = RebindingResolver("cad.rebind.example", [PUBLIC, "127.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with Receiver(statuses=[200]) as receiver:
        endpoint = make_endpoint(
            boss, f"http://cad.rebind.example:{receiver.port}/hooks", events=("incident.published",)
        )
        publish(incident)

    assert receiver.requests == []
    first, second = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("attempt")
    assert first.status == DeliveryStatus.RETRY_SCHEDULED and first.response_status is None
    assert PUBLIC in first.error  # it tried the vetted address, nothing else
    assert second.status == DeliveryStatus.FAILED and second.response_status is None
    assert second.error == (
        "Not sent: cad.rebind.example resolves to a private, loopback or link-local address."
    )
    assert resolver.calls == 2  # one look-up per attempt, none by the HTTP client


def test_the_post_goes_to_the_first_vetted_address_and_names_the_host(
    settings, monkeypatch, publish, scene
):
    """With ``ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` (a CAD on the server's own network)
    private answers are allowed as before, and the POST still goes to the address looked
    up, with the host name in the ``Host`` header: a receiver on 127.0.0.2 at the same
    port, the name's next answer, gets nothing."""
    agency, boss, incident = scene
    settings.ALERTS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    with Receiver(statuses=[200]) as vetted:
        with Receiver(statuses=[200], host="127.0.0.2", port=vetted.port) as other:
            resolver = RebindingResolver("cad.internal.example", ["127.0.0.1", "127.0.0.2"])
            monkeypatch.setattr(socket, "getaddrinfo", resolver)
            make_endpoint(
                boss,
                f"http://cad.internal.example:{vetted.port}/hooks",
                events=("incident.published",),
            )
            publish(incident)

    assert other.requests == []
    assert len(vetted.requests) == 1
    assert vetted.requests[0]["headers"]["Host"] == f"cad.internal.example:{vetted.port}"
    assert resolver.calls == 1
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SENT


def test_each_vetted_address_is_tried_in_order():
    """A name with two addresses: the first refuses the connection, the second answers."""
    with Receiver(statuses=[204]) as receiver:
        response = pinned_post(
            f"http://cad.example:{receiver.port}/hooks",
            addresses=["127.0.0.3", "127.0.0.1"],  # nothing listens on 127.0.0.3
            data=b"{}",
            headers={"Content-Type": "application/json"},
            timeout=2.0,
        )
    assert response.status_code == 204 and len(receiver.requests) == 1
    with pytest.raises(requests.ConnectionError, match="127.0.0.3"):
        pinned_post(
            "http://cad.example:9/hooks", addresses=["127.0.0.3"], data=b"", headers={}, timeout=2
        )


def _certificate(tmp_path, name: str):
    """A CA and a server certificate for ``name`` signed by it; (ca file, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file = tmp_path / "server.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = tmp_path / "server.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


def test_tls_checks_the_certificate_and_sends_sni_for_the_host_name_not_the_address(tmp_path):
    """Pinned to 127.0.0.1, a POST to https://cad.example sends SNI ``cad.example`` and
    accepts only a certificate for cad.example from a trusted issuer."""
    ca_file, cert_file, key_file = _certificate(tmp_path, "cad.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server_names = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    with Receiver(statuses=[200]) as receiver:
        receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
        url = f"https://cad.example:{receiver.port}/hooks"
        response = pinned_post(
            url, addresses=["127.0.0.1"], data=b"{}", headers={}, timeout=5, verify=str(ca_file)
        )
        assert response.status_code == 200
        assert server_names == ["cad.example"]
        assert receiver.requests[0]["headers"]["Host"] == f"cad.example:{receiver.port}"

        # The same server under another name: its certificate does not name it.
        with pytest.raises(requests.exceptions.SSLError):
            pinned_post(
                f"https://other.example:{receiver.port}/hooks",
                addresses=["127.0.0.1"],
                data=b"{}",
                headers={},
                timeout=5,
                verify=str(ca_file),
            )
        # An issuer the client does not trust (the default bundle): refused too.
        with pytest.raises(requests.exceptions.SSLError):
            pinned_post(url, addresses=["127.0.0.1"], data=b"{}", headers={}, timeout=5)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_private_ca_named_in_the_environment_is_still_trusted(tmp_path, monkeypatch, variable):
    """``requests.post`` trusted the CA bundle named in ``REQUESTS_CA_BUNDLE`` (or
    ``CURL_CA_BUNDLE``), the way an installation trusts its CAD's private CA; the pinned
    session ignores the environment (for its proxies) and refused such a receiver."""
    ca_file, cert_file, key_file = _certificate(tmp_path, "cad.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv(variable, str(ca_file))
    with Receiver(statuses=[200]) as receiver:
        receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
        response = pinned_post(
            f"https://cad.example:{receiver.port}/hooks",
            addresses=["127.0.0.1"],
            data=b"{}",
            headers={},
            timeout=5,
        )
    assert response.status_code == 200 and len(receiver.requests) == 1
