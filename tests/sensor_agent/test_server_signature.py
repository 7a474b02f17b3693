"""The agent acts only on poll answers the server signed for this sensor and this poll.

Against a local stub server over real HTTP that answers like the real one (signed with
its key, which the agent is provisioned with) unless a test makes it answer otherwise:
forged, unsigned, for another sensor, replayed, stale. Each refused answer uploads
nothing. The real server's signing is tested in tests/incidents/test_audio.py, and the
agent against it through a man in the middle in tests/investigations/test_agent.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import time

import pytest

from apps.sensor_agent.agent import AgentError, SensorAgent
from apps.sensor_agent.client import utc_iso
from apps.sensor_agent.config import ConfigError, config_from_dict
from apps.sensors.signing import (
    SERVER_SIGNATURE_HEADER,
    generate_private_key,
    public_key_pem,
    server_answer_signed,
    sign_server_answer,
)
from tests.sensor_agent.support import agent_config, audio_request, record_ten_minutes

RATE = 12_000


@pytest.fixture
def agent(tmp_path, stub):
    agent = SensorAgent(
        agent_config(tmp_path, server_url=stub.url, server_key=stub.public_key),
        private_key=generate_private_key(),
    )
    agent.recorded_from = record_ten_minutes(agent.buffer, rate=RATE)
    yield agent
    agent.close()


def refused(agent, stub, caplog, reason: str) -> None:
    """The poll acted on nothing: no answer, no upload, the reason in the log."""
    with caplog.at_level(logging.ERROR, logger="sensor_agent"):
        assert agent.poll_audio_requests() == []
    assert stub.puts() == []
    assert agent.untrusted_answers == 1
    assert reason in caplog.text and "nothing uploaded" in caplog.text


def test_a_genuine_signed_answer_is_answered(agent, stub):
    stub.audio_requests = [audio_request(7, agent.recorded_from + 100, agent.recorded_from + 106)]
    [answer] = agent.poll_audio_requests()
    assert answer.outcome == "sent" and len(stub.puts()) == 1
    assert agent.untrusted_answers == 0


def test_an_unsigned_answer_is_refused(agent, stub, caplog):
    stub.audio_requests = [audio_request(7, agent.recorded_from + 100, agent.recorded_from + 106)]
    stub.answer = lambda entry: (stub.signed_answer(entry)[0], {})  # the old, unsigned answer
    refused(agent, stub, caplog, "not signed by the server")
    # Nothing was remembered: the same request, genuinely signed, is answered later.
    stub.answer = None
    [answer] = agent.poll_audio_requests()
    assert answer.outcome == "sent"


def test_a_forged_or_altered_answer_is_refused(agent, stub, caplog):
    stub.audio_requests = [audio_request(7, agent.recorded_from, agent.recorded_from + 119)]
    attacker = generate_private_key()
    stub.answer = lambda entry: stub.signed_answer(entry, key=attacker)
    refused(agent, stub, caplog, "does not verify")


def test_a_genuine_signature_over_a_changed_window_is_refused(agent, stub, caplog):
    stub.audio_requests = [audio_request(7, agent.recorded_from + 100, agent.recorded_from + 106)]

    def altered(entry):
        body, headers = stub.signed_answer(entry)
        data = json.loads(body)
        data["requests"][0]["start_utc"] = utc_iso(agent.recorded_from)
        return json.dumps(data).encode(), headers

    stub.answer = altered
    refused(agent, stub, caplog, "does not verify")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "not signed by the server"),
        ("ed25519=:AAAA:", "does not verify"),
        ("ed25519=:not base64!:", "does not verify"),
        ("rsa=:AA:", "does not verify"),
    ],
)
def test_a_malformed_signature_header_is_refused(agent, stub, caplog, header, reason):
    stub.audio_requests = [audio_request(7, agent.recorded_from + 100, agent.recorded_from + 106)]
    stub.answer = lambda entry: (stub.signed_answer(entry)[0], {SERVER_SIGNATURE_HEADER: header})
    refused(agent, stub, caplog, reason)


def test_an_answer_signed_for_another_sensor_is_refused(agent, stub, caplog):
    """The server's genuine answer to sensor S-0002, handed to S-0001."""
    stub.audio_requests = [audio_request(7, agent.recorded_from + 100, agent.recorded_from + 106)]
    stub.answer = lambda entry: stub.signed_answer(entry, serial="S-0002")
    refused(agent, stub, caplog, "for sensor 'S-0002', not this one")


def test_an_answer_to_an_earlier_poll_is_refused(agent, stub, caplog):
    """A genuine answer recorded on an earlier poll, replayed: its nonce is that poll's."""
    agent.poll_audio_requests()  # an earlier poll, answered genuinely (nothing pending)
    [earlier] = stub.polls()
    stub.audio_requests = [audio_request(7, agent.recorded_from + 100, agent.recorded_from + 106)]
    stub.answer = lambda entry: stub.signed_answer(earlier)
    refused(agent, stub, caplog, "another poll")


@pytest.mark.parametrize("age_s", [300.0, -300.0])
def test_a_stale_or_future_answer_is_refused(agent, stub, caplog, age_s):
    stub.audio_requests = [audio_request(7, agent.recorded_from + 100, agent.recorded_from + 106)]
    stub.answer = lambda entry: stub.signed_answer(entry, issued_at=time.time() - age_s)
    refused(agent, stub, caplog, "stale")


@pytest.mark.parametrize("clock_off_s", [120.0, -120.0])
def test_freshness_is_judged_on_the_agents_own_clock_and_its_measured_offset(
    tmp_path, stub, caplog, clock_off_s
):
    """The agent's clock (injectable; GPS on a real sensor) is two minutes off the
    server's. The heartbeat measured the offset with time.time() while freshness was
    judged with the agent's clock, so every genuine answer was refused as stale (or a
    stale one accepted). Now both use the agent's clock: the offset is measured, a fresh
    answer is trusted and a stale one still refused."""
    agent = SensorAgent(
        agent_config(tmp_path, server_url=stub.url, server_key=stub.public_key),
        private_key=generate_private_key(),
        clock=lambda: time.time() + clock_off_s,
    )
    try:
        start = record_ten_minutes(agent.buffer, rate=RATE)
        assert agent.heartbeat() is not None

        stub.audio_requests = [audio_request(7, start + 100, start + 106)]
        answers = agent.poll_audio_requests()
        assert agent.untrusted_answers == 0, caplog.text
        assert [a.outcome for a in answers] == ["sent"] and len(stub.puts()) == 1
        assert agent.clock_offset_s == pytest.approx(clock_off_s, abs=2.0)

        stub.audio_requests = [audio_request(8, start + 200, start + 206)]
        stub.answer = lambda entry: stub.signed_answer(entry, issued_at=time.time() - 90)
        with caplog.at_level(logging.ERROR, logger="sensor_agent"):
            assert agent.poll_audio_requests() == []
        assert "stale" in caplog.text
        assert len(stub.puts()) == 1 and agent.untrusted_answers == 1
    finally:
        agent.close()


def test_a_signed_answer_still_meets_the_privacy_rules(agent, stub):
    """A signature does not lift the agent's own limits (120 s, expiry, the buffer)."""
    start = agent.recorded_from
    stub.audio_requests = [
        audio_request(1, start + 10, start + 10 + 121),
        audio_request(2, start - 3600, start - 3594),
    ]
    answers = {a.request_id: a.outcome for a in agent.poll_audio_requests()}
    assert answers == {1: "refused", 2: "not-buffered"}
    assert stub.puts() == [] and agent.untrusted_answers == 0


def test_during_a_key_rotation_the_agent_trusts_both_keys(tmp_path, stub):
    """The server key file may hold several keys: the new one is added on the sensors
    before the server switches to it, the old one removed afterwards."""
    old = generate_private_key()
    key_file = tmp_path / "server-keys.pem"
    key_file.write_bytes(
        b"# old key\n" + public_key_pem(old.public_key()) + public_key_pem(stub.public_key)
    )
    config = agent_config(tmp_path / "agent", server_url=stub.url, server_key=stub.public_key)
    config = dataclasses.replace(config, server_public_key_path=key_file)
    agent = SensorAgent(config, private_key=generate_private_key())
    try:
        assert agent.poll_audio_requests() == [] and agent.untrusted_answers == 0
        stub.signing_key = old
        assert agent.poll_audio_requests() == [] and agent.untrusted_answers == 0
        stub.signing_key = generate_private_key()  # a key the sensor was never given
        assert agent.poll_audio_requests() == [] and agent.untrusted_answers == 1
    finally:
        agent.close()


def test_the_server_key_must_be_provisioned_and_readable(tmp_path):
    base = {"serial": "S-1", "private_key": "k.pem", "data_dir": "d"}
    with pytest.raises(ConfigError, match="server_public_key .* is required"):
        config_from_dict({**base, "server_url": "https://x.example"}, base=tmp_path)
    config = config_from_dict(
        {**base, "server_url": "https://x.example", "server_public_key": "missing.pem"},
        base=tmp_path,
    )
    with pytest.raises(AgentError, match="cannot read the server public key"):
        SensorAgent(config, private_key=generate_private_key())
    (tmp_path / "bad.pem").write_text("not a key\n")
    config = config_from_dict(
        {**base, "server_url": "https://x.example", "server_public_key": "bad.pem"},
        base=tmp_path,
    )
    with pytest.raises(AgentError, match="bad.pem"):
        SensorAgent(config, private_key=generate_private_key())


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://server.example.org", True),
        ("http://127.0.0.1:8000", True),
        ("http://127.8.9.10", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://server.example.org", False),
        ("http://192.168.1.20:8000", False),
        ("http://0.0.0.0:8000", False),
        ("http://127.0.0.1.example.org", False),
    ],
)
def test_plain_http_only_to_this_machine_unless_explicitly_allowed(tmp_path, url, allowed):
    raw = {
        "serial": "S-1",
        "private_key": "k.pem",
        "server_public_key": "s.pem",
        "data_dir": "d",
        "server_url": url,
    }
    if allowed:
        assert config_from_dict(raw, base=tmp_path).server_url == url
    else:
        with pytest.raises(ConfigError, match="plain http .* allow_insecure_http"):
            config_from_dict(raw, base=tmp_path)
    config = config_from_dict({**raw, "allow_insecure_http": True}, base=tmp_path)
    assert config.server_url == url and config.allow_insecure_http
    with pytest.raises(ConfigError, match="allow_insecure_http must be true or false"):
        config_from_dict({**raw, "allow_insecure_http": "yes"}, base=tmp_path)


def test_sign_server_answer_is_bound_to_its_context():
    """A sensor's own request signature can never pass for a server answer signature."""
    key = generate_private_key()
    body = b'{"requests":[]}'
    header = sign_server_answer(body=body, private_key=key)
    assert header.startswith("ed25519=:") and header.endswith(":")
    assert server_answer_signed(body=body, header=header, public_keys=[key.public_key()])
    bare = key.sign(body)  # the same bytes signed without the context
    forged = "ed25519=:" + base64.b64encode(bare).decode() + ":"
    assert not server_answer_signed(body=body, header=forged, public_keys=[key.public_key()])
