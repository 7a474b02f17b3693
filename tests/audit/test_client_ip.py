from django.test import RequestFactory

from apps.audit.services import client_ip


def _request(remote="10.0.0.9", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(_request(forwarded="203.0.113.7")) == "10.0.0.9"


def test_one_trusted_proxy_takes_the_hop_it_appended(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client wrote "1.2.3.4" itself; our proxy appended the real peer address.
    assert client_ip(_request(forwarded="1.2.3.4, 198.51.100.20")) == "198.51.100.20"


def test_two_trusted_proxies(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(_request(forwarded="1.2.3.4, 198.51.100.20, 10.1.1.1")) == "198.51.100.20"


def test_missing_or_garbage_header_falls_back_or_gives_none(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(_request()) == "10.0.0.9"
    assert client_ip(_request(forwarded="not-an-address")) is None
    assert client_ip(None) is None
