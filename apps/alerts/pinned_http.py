"""HTTP POSTs that connect only to addresses already vetted (no second DNS look-up).

``webhook_deliver`` looks the receiver's host name up once, refuses it if any answer is
a private, loopback or link-local address, and then must connect to exactly the
addresses it checked. ``requests`` (urllib3) would look the name up again when it
connects, and a DNS name under an attacker's control can answer a public address to the
check and ``127.0.0.1`` or the cloud metadata address to the connection (DNS
rebinding). Here the connection's socket goes to the vetted addresses, in the order the
look-up gave them, while everything above the socket still uses the host name: the
``Host`` header, the TLS SNI and the certificate's host name check.

Proxies from the environment (``HTTPS_PROXY``…) are not used: a proxy would resolve the
name itself, after the check. The CA bundle from the environment (``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``) is, as ``requests.post`` uses it: an installation whose receivers
present certificates from a private CA trusts it that way.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping, Sequence

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection


class _PinnedConnectionMixin:
    """``_new_conn`` of urllib3's HTTPConnection, but to ``pinned_addresses`` only."""

    pinned_addresses: tuple[str, ...] = ()

    def _new_conn(self) -> socket.socket:
        failure: Exception = NewConnectionError(self, "No vetted address to connect to.")
        for address in self.pinned_addresses:
            try:
                sock = connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError:
                failure = ConnectTimeoutError(
                    self,
                    f"Connection to {self.host} ({address}) timed out. "
                    f"(connect timeout={self.timeout})",
                )
            except OSError as error:
                failure = NewConnectionError(
                    self, f"Failed to establish a new connection to {address}: {error}"
                )
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        raise failure


class PinnedAdapter(HTTPAdapter):
    """A transport adapter whose connections go to ``addresses`` whatever the URL's host."""

    def __init__(self, addresses: Sequence[str], **kwargs):
        addresses = tuple(addresses)
        attrs = {"pinned_addresses": addresses}
        http_conn = type("PinnedHTTPConnection", (_PinnedConnectionMixin, HTTPConnection), attrs)
        https_conn = type("PinnedHTTPSConnection", (_PinnedConnectionMixin, HTTPSConnection), attrs)
        self._pool_classes = {
            "http": type(
                "PinnedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}
            ),
            "https": type(
                "PinnedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
            ),
        }
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes


def pinned_post(
    url: str,
    *,
    addresses: Sequence[str],
    data: bytes,
    headers: Mapping[str, str],
    timeout: float,
    verify: bool | str = True,
) -> requests.Response:
    """POST ``data`` to ``url`` over a connection to one of ``addresses`` (tried in order).

    No redirects are followed, no proxy or ``.netrc`` from the environment is used; the
    environment's CA bundle is (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``).
    Raises ``requests.RequestException`` like ``requests.post``.
    """
    if not addresses:
        raise requests.ConnectionError(f"No address to connect to for {url}.")
    if verify is True:  # what trust_env would have read, without the proxies
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    with requests.Session() as session:
        session.trust_env = False
        adapter = PinnedAdapter(addresses, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session.post(
            url,
            data=data,
            headers=dict(headers),
            timeout=timeout,
            allow_redirects=False,
            verify=verify,
        )
