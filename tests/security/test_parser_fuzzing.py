"""Hypothesis fuzzing of every parser that reads outside input (WAV bytes: tests/acoustics).

Each parser may only refuse with its documented error (a serializer's validation errors
or ``PayloadTooLarge``, ``SignatureRefused``, ``AudioUploadError``, ``PulseFileError``) or
the API's 4xx problem body, never another exception, and nothing is written on refusal.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import struct
import wave
import zlib
from io import BytesIO

import pytest
from django.db import transaction
from django.test import RequestFactory
from django.utils import timezone
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from apps.acoustics.io import PulseFileError, parse_utc, read_allpulses, read_weather
from apps.acoustics.wavfiles import AudioFileError, parse_wav_bytes, sensor_audio_from_smj0
from apps.incidents import services as incident_services
from apps.incidents.models import AudioClip, AudioRequestStatus
from apps.sensors.authentication import PayloadTooLarge
from apps.sensors.models import Sensor, SensorPulse, UsedNonce
from apps.sensors.serializers import HeartbeatSerializer, PulseBatchSerializer
from apps.sensors.signatures import SignatureRefused, verify_sensor_request
from apps.sensors.signing import sign_request
from tests.security.support import SAMPLE_RATE, sensor_with_audio_request
from tests.sensors.support import BASE, HEARTBEAT, PULSES

pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
SERIAL = "S-FUZZ-2"


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# --- Strategies ------------------------------------------------------------------------------

huge_ints = st.one_of(
    st.integers(min_value=2**1024, max_value=10**400),
    st.integers(min_value=-(10**400), max_value=-(2**1024)),
)
odd_floats = st.sampled_from(
    [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.0, 2.0**63, 1e16 + 1]
)
number_like_strings = st.sampled_from(
    ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e999", "-1e999", "0x10", "1_000", " 12 ", ""]
)
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    odd_floats,
    number_like_strings,
    st.text(max_size=40),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=25,
)
odd_iso_times = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "2026-02-30T00:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T06:00:00",
            "2026-11-21T06:00:00+23:59",
            "2026-11-21T06:00:00-23:59",
            "2026-11-21T06:00:00+24:00",
            "2026-11-21T06:00:00.1234567Z",
            "2026-11-21T06:00:60Z",
            "2026-W47-6T06:00:00Z",
            "20261121T060000Z",
            "2026-11-21 06:00:00Z",
            "2026-11-21T06:00:00z",
            "２０２６-11-21T06:00:00Z",
            "2026-11-21T06:00:00\x00Z",
            "2026-11-21T06:00:00Z" + " " * 30,
        ]
    ),
    st.datetimes(
        timezones=st.builds(
            dt.timezone,
            st.timedeltas(
                min_value=-dt.timedelta(hours=23, minutes=59),
                max_value=dt.timedelta(hours=23, minutes=59),
            ),
        )
    ).map(lambda value: value.isoformat()),
    st.text(max_size=45),
)


@st.composite
def recent_times(draw) -> str:
    """Inside the accepted window (72 h back, 10 s ahead), so valid pulses get through."""
    seconds = draw(st.floats(min_value=-71 * 3600, max_value=5))
    return iso(timezone.now() + dt.timedelta(seconds=seconds))


def nested(depth: int, leaf=0):
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


features = st.one_of(
    st.dictionaries(
        st.text(max_size=80),
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), huge_ints),
        max_size=80,
    ),
    st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4),
    st.integers(min_value=1, max_value=200).map(lambda depth: {"deep": nested(depth)}),
    json_values,
)


@st.composite
def corrupted(draw, valid: dict, weird: dict) -> dict:
    """A valid record with none, some or all of its fields replaced by weird values."""
    record = {name: draw(strategy) for name, strategy in valid.items()}
    for name in draw(st.sets(st.sampled_from(sorted(weird)), max_size=len(weird))):
        if draw(st.booleans()) and name in record:
            del record[name]
        else:
            record[name] = draw(weird[name])
    return record


pulse_records = corrupted(
    {
        "pulse_uuid": st.uuids().map(str),
        "arrival_time_utc": recent_times(),
        "power_db_spl": st.floats(0, 200),
        "signal_to_noise_db": st.floats(-60, 200),
        "features": st.dictionaries(
            st.text(min_size=1, max_size=64), st.floats(-1e6, 1e6), max_size=8
        ),
    },
    {
        "pulse_uuid": json_leaves,
        "arrival_time_utc": st.one_of(odd_iso_times, json_leaves),
        "power_db_spl": st.one_of(odd_floats, huge_ints, json_leaves),
        "signal_to_noise_db": st.one_of(odd_floats, huge_ints, json_leaves),
        "features": features,
        "extra": json_values,
    },
)
pulse_batches = st.one_of(
    json_values,
    st.fixed_dictionaries({"pulses": st.one_of(st.lists(pulse_records, max_size=4), json_values)}),
)
numbers = st.one_of(st.floats(-1e4, 1e4), odd_floats, huge_ints, json_leaves)
heartbeats = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "position": st.one_of(
                st.fixed_dictionaries(
                    {"latitude": numbers, "longitude": numbers, "elevation_m": numbers},
                    optional={"error_m": numbers},
                ),
                json_values,
            ),
            "clock": st.one_of(
                st.fixed_dictionaries({"offset_us": numbers, "synced": json_leaves}),
                json_values,
            ),
            "buffer": st.one_of(
                st.fixed_dictionaries(
                    {
                        "oldest_sample_utc": st.one_of(recent_times(), odd_iso_times, json_leaves),
                        "bytes": st.one_of(st.integers(), huge_ints, json_leaves),
                    }
                ),
                json_values,
            ),
            "firmware": st.one_of(st.text(max_size=100), json_leaves),
        },
    ),
)


def _json_safe(errors) -> None:
    """Validation errors render as a problem body (JSON, no NaN)."""
    json.dumps(errors, allow_nan=False)


# --- Pulse batch and heartbeat serializers ---------------------------------------------------


@FUZZ
@given(data=pulse_batches)
def test_pulse_batch_serializer_refuses_only_with_validation_errors(data):
    serializer = PulseBatchSerializer(data=data)
    try:
        valid = serializer.is_valid()
    except PayloadTooLarge:
        assert len(data["pulses"]) > 1000
        return
    event(f"valid {valid}")
    if not valid:
        assert serializer.errors
        _json_safe(serializer.errors)
        return
    for pulse in serializer.pulses_for_ingest():
        assert pulse["arrival_time"].tzinfo is not None
        assert 0 <= pulse["power_db_spl"] <= 200
        assert -60 <= pulse["snr_db"] <= 200
        assert all(math.isfinite(value) for value in pulse["features"].values())
        json.dumps(pulse["features"], allow_nan=False)


@FUZZ
@given(count=st.integers(min_value=4, max_value=12))
def test_an_oversized_batch_is_refused_before_validation(settings, count):
    settings.SENSOR_PULSE_BATCH_MAX = 3
    with pytest.raises(PayloadTooLarge):
        PulseBatchSerializer(data={"pulses": [None] * count}).is_valid()


@FUZZ
@given(data=heartbeats)
def test_heartbeat_serializer_refuses_only_with_validation_errors(data):
    serializer = HeartbeatSerializer(data=data)
    if not serializer.is_valid():
        assert serializer.errors
        _json_safe(serializer.errors)
        return
    position = serializer.validated_data.get("position")
    if position:
        assert -90 <= position["latitude"] <= 90 and -180 <= position["longitude"] <= 180
    json.dumps(serializer.validated_data.get("buffer"), allow_nan=False)


# --- The signed API: raw bodies end to end --------------------------------------------------


@pytest.fixture
def fuzz_sensor(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return sensor_with_audio_request(serial=SERIAL)


def _raw_json_bodies():
    # Not empty: Django's test client sends no Content-Type without a body.
    return st.one_of(
        pulse_batches.map(lambda value: json.dumps(value).encode()),  # NaN/Infinity literals
        heartbeats.map(lambda value: json.dumps(value).encode()),
        st.integers(min_value=1, max_value=100_000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(min_value=1, max_value=100_000).map(lambda depth: b'{"a":' * depth),
        st.integers(min_value=4300, max_value=6000).map(lambda digits: b"9" * digits),
        st.binary(max_size=512),
        st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    ).filter(len)


def _post_signed(client, path, body, key, content_type="application/json"):
    headers = sign_request(
        method="POST",
        url=BASE + path,
        body=body,
        content_type=content_type,
        serial=SERIAL,
        private_key=key,
    )
    extra = {name: value for name, value in headers.items() if name.lower() != "content-type"}
    return client.generic("POST", path, data=body, content_type=content_type, headers=extra)


def _assert_problem(response, allowed: set[int]) -> None:
    assert response.status_code in allowed, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == response.status_code


@FUZZ
@given(body=_raw_json_bodies())
def test_signed_pulse_bodies_get_a_4xx_problem_and_store_nothing_on_refusal(
    client, fuzz_sensor, body
):
    before = SensorPulse.objects.count()
    response = _post_signed(client, PULSES, body, fuzz_sensor["key"])
    event(f"status {response.status_code}")
    _assert_problem(response, {202, 400, 409, 413})
    if response.status_code != 202:
        assert SensorPulse.objects.count() == before


@FUZZ
@given(body=_raw_json_bodies())
def test_signed_heartbeat_bodies_get_a_4xx_problem_and_change_nothing_on_refusal(
    client, fuzz_sensor, body
):
    fields = ("latitude", "longitude", "last_heartbeat_at", "clock_error_us", "buffer_status")
    sensor = fuzz_sensor["sensor"]
    before = Sensor.objects.filter(pk=sensor.pk).values(*fields).get()
    response = _post_signed(client, HEARTBEAT, body, fuzz_sensor["key"])
    event(f"status {response.status_code}")
    _assert_problem(response, {200, 400, 413})
    if response.status_code != 200:
        assert Sensor.objects.filter(pk=sensor.pk).values(*fields).get() == before


# --- RFC 9421 signature headers --------------------------------------------------------------

header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200)
components = st.lists(
    st.one_of(
        st.sampled_from(
            [
                '"@method"',
                '"@target-uri"',
                '"content-digest"',
                '"content-type"',
                '"@authority"',
                '"@query-param";name="x"',
                '"@path"',
                '"signature"',
                '"x-unknown"',
                '"@status"',
                '"content-digest";sf',
                '"content-digest";key="a"',
                '"@request-response"',
            ]
        ),
        header_text.map(json.dumps),
    ),
    max_size=6,
)
sf_params = st.lists(
    st.tuples(
        st.sampled_from(["created", "keyid", "nonce", "alg", "expires", "tag", "x"]),
        st.one_of(
            st.integers(min_value=-(10**15), max_value=10**15).map(str),
            st.just("NOW"),
            st.sampled_from(['"S-FUZZ-2"', '"ed25519"', '"rsa-v1_5-sha256"', "?1", "1.5"]),
            st.text(
                alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=0, max_size=140
            ).map(json.dumps),
            header_text,
        ),
    ),
    max_size=6,
)


@st.composite
def signature_inputs(draw) -> str:
    label = draw(st.sampled_from(["sensor", "a", "1bad", "", "sensor, other"]))
    params = ";".join(
        f"{name}={value}".replace("NOW", str(int(timezone.now().timestamp())))
        for name, value in draw(sf_params)
    )
    inner = " ".join(draw(components))
    built = f"{label}=({inner})" + (f";{params}" if params else "")
    return draw(st.one_of(st.just(built), header_text))


signatures = st.one_of(
    st.binary(min_size=0, max_size=80).map(
        lambda raw: "sensor=:" + base64.b64encode(raw).decode() + ":"
    ),
    header_text,
)
digests = st.one_of(
    st.sampled_from(
        [
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
            "sha-512=:AAAA:",
            "sha-256=:not base64:",
            "sha-256=abc",
            "md5=:1B2M2Y8AsgTpgAmY7PhCfg==:",
            "",
        ]
    ),
    header_text,
)


def _fuzzed_request(*, method, body, headers):
    meta = {}
    for name, value in headers.items():
        if value is None:
            continue
        key = name.upper().replace("-", "_")
        meta[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return RequestFactory().generic(method, PULSES, data=body, **meta)


@FUZZ
@given(
    signature_input=st.one_of(st.none(), signature_inputs()),
    signature=st.one_of(st.none(), signatures),
    digest=st.one_of(st.none(), digests),
    content_length=st.one_of(st.none(), st.sampled_from(["-1", "abc", "99999999999", "0"])),
    method=st.sampled_from(["POST", "GET", "PUT"]),
    body=st.binary(max_size=64),
)
def test_arbitrary_signature_headers_are_refused_with_a_reason(
    fuzz_sensor, signature_input, signature, digest, content_length, method, body
):
    request = _fuzzed_request(
        method=method,
        body=body,
        headers={
            "Signature-Input": signature_input,
            "Signature": signature,
            "Content-Digest": digest,
            "Content-Type": "application/json",
            "Content-Length": content_length,
        },
    )
    nonces = UsedNonce.objects.count()
    with pytest.raises(SignatureRefused) as refused:
        verify_sensor_request(request=request)
    assert refused.value.status_code in (401, 403, 413)
    assert refused.value.reason and refused.value.detail
    assert UsedNonce.objects.count() == nonces


@st.composite
def mutated_signed_headers(draw, key):
    """A valid signature with one header cut, spliced or replaced."""
    body = draw(st.binary(max_size=64))
    headers = sign_request(
        method="POST",
        url=BASE + PULSES,
        body=body,
        content_type="application/json",
        serial=SERIAL,
        private_key=key,
    )
    name = draw(st.sampled_from(["Signature-Input", "Signature", "Content-Digest"]))
    value = headers[name]
    start = draw(st.integers(0, len(value)))
    end = draw(st.integers(start, len(value)))
    insert = draw(st.one_of(st.just(""), header_text.map(lambda t: t[:10])))
    headers[name] = value[:start] + insert + value[end:]
    assume(headers[name] != value)
    return body, headers


@FUZZ
@given(data=st.data())
def test_a_tampered_valid_signature_is_refused_and_burns_no_nonce(fuzz_sensor, data):
    body, headers = data.draw(mutated_signed_headers(fuzz_sensor["key"]))
    request = _fuzzed_request(method="POST", body=body, headers=headers)
    nonces = UsedNonce.objects.count()
    try:
        verify_sensor_request(request=request)
    except SignatureRefused as refused:
        event(refused.reason)
        assert refused.status_code in (401, 403)
        assert UsedNonce.objects.count() == nonces
    else:  # a cut that kept the meaning (e.g. optional whitespace): still one use only
        assert UsedNonce.objects.count() == nonces + 1


# --- Audio upload: the WAV validation path of the sensor API --------------------------------


def _wav(*, channels: int, width: int, rate: int, frames: int) -> bytes:
    buffer = BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(bytes((i * 37) % 256 for i in range(frames * channels * width)))
    return buffer.getvalue()


@st.composite
def wav_uploads(draw) -> bytes:
    """Mostly a well-formed WAV of the requested kind, sometimes another kind, cut or edited."""
    odd_format = draw(st.booleans()) and draw(st.booleans())
    data = _wav(
        channels=draw(st.sampled_from([1, 2])) if odd_format else 1,
        width=draw(st.sampled_from([1, 2, 3, 4])) if odd_format else 2,
        rate=draw(st.sampled_from([SAMPLE_RATE, 8_000, 48_000, 1, 400_000]))
        if odd_format
        else SAMPLE_RATE,
        frames=draw(st.integers(min_value=0, max_value=SAMPLE_RATE)),
    )
    if draw(st.booleans()) and draw(st.booleans()):
        data = data[: draw(st.integers(min_value=0, max_value=len(data)))]
    edits = draw(st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=4))
    if draw(st.booleans()) and draw(st.booleans()):
        edited = bytearray(data)
        for position, value in edits:
            if position < len(edited):
                edited[position] = value
        data = bytes(edited)
    if draw(st.booleans()) and draw(st.booleans()):  # a lying chunk after the data
        data += b"LIST" + struct.pack("<I", draw(st.integers(0, 2**32 - 1))) + b"abcd"
    return data


@FUZZ
@given(
    body=st.one_of(wav_uploads(), st.binary(max_size=256)),
    start_offset_s=st.one_of(st.floats(0, 5), st.floats(-3, 7), st.sampled_from([-1e9, 1e9])),
)
def test_audio_uploads_are_stored_whole_or_refused_with_nothing_written(
    fuzz_sensor, settings, body, start_offset_s
):
    request = fuzz_sensor["request"]
    try:
        start = request.window_start + dt.timedelta(seconds=start_offset_s)
    except OverflowError:
        return
    files_before = (
        sorted(p for p in settings.MEDIA_ROOT.rglob("*")) if settings.MEDIA_ROOT.exists() else []
    )
    savepoint = transaction.savepoint()
    try:
        clip = incident_services.audio_clip_store(
            sensor=fuzz_sensor["sensor"], request_id=request.pk, body=body, start_time=start
        )
    except incident_services.AudioUploadError as error:
        event(type(error).__name__)
        assert 400 <= error.status < 500 and error.detail
        assert not AudioClip.objects.exists()
        request.refresh_from_db()
        assert request.status == AudioRequestStatus.PENDING
        files_after = sorted(settings.MEDIA_ROOT.rglob("*")) if settings.MEDIA_ROOT.exists() else []
        assert files_after == files_before
    else:
        event("stored")
        assert clip.sample_rate == SAMPLE_RATE and clip.n_samples > 0
        assert clip.start_time >= request.window_start - dt.timedelta(microseconds=1)
        clip.file.delete(save=False)
    finally:
        transaction.savepoint_rollback(savepoint)


# --- allpulses / weather readers -------------------------------------------------------------

allpulses_records = corrupted(
    {
        "pulse_uuid": st.uuids().map(str),
        "serial_number": st.text(min_size=1, max_size=8),
        "arrival_time_utc": st.just("2022-09-18T05:20:54.123Z"),
        "location": st.fixed_dictionaries(
            {"x": st.floats(-1e4, 1e4), "y": st.floats(-1e4, 1e4), "z": st.floats(-100, 100)}
        ),
        "power_dB_SPL": st.floats(0, 200),
    },
    {
        "pulse_uuid": json_leaves,
        "serial_number": json_leaves,
        "arrival_time_utc": st.one_of(odd_iso_times, json_leaves),
        "location": st.one_of(
            st.fixed_dictionaries({"x": numbers, "y": numbers, "z": numbers}), json_values
        ),
        "location_error": numbers,
        "signal_to_noise_dB": numbers,
        "power_dB_SPL": numbers,
        "extra_feature": json_values,
    },
)
weather_records = corrupted(
    {
        "temperature": st.floats(-60, 60),
        "speed": st.floats(0, 40),
        "direction": st.floats(-720, 720),
    },
    {"temperature": numbers, "speed": numbers, "direction": numbers},
)
file_contents = st.one_of(
    st.lists(allpulses_records, max_size=4).map(lambda records: json.dumps(records).encode()),
    weather_records.map(lambda record: json.dumps(record).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.integers(min_value=1, max_value=100_000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.binary(max_size=256),
)


@FUZZ
@given(content=file_contents)
def test_allpulses_and_weather_readers_refuse_only_with_pulse_file_error(tmp_path, content):
    for reader, name in ((read_allpulses, "x.allpulses.json"), (read_weather, "x.weather.json")):
        path = tmp_path / name
        path.write_bytes(content)
        try:
            result = reader(path)
        except PulseFileError as error:
            event(f"{reader.__name__} refused")
            assert str(error)
        else:
            event(f"{reader.__name__} read")
            if reader is read_weather:
                assert -60 <= result.temperature_c <= 60 and result.wind_speed_ms >= 0
                assert 0 <= result.wind_from_deg < 360
            else:
                assert all(math.isfinite(p.t + p.x + p.y + p.z) for p in result)


@FUZZ
@given(text=st.one_of(odd_iso_times, json_leaves))
def test_parse_utc_refuses_only_with_pulse_file_error(text):
    try:
        value = parse_utc(text)
    except PulseFileError:
        return
    assert math.isfinite(value)


# --- smj0 metadata of ShotSpotter WAVs (the bytes are fuzzed in tests/acoustics) -------------

smj0_records = corrupted(
    {
        "serialNumber": st.text(min_size=1, max_size=20),
        "startTimeUTC": st.just("2022-09-18T05:20:54.178Z"),
        "geolocation": st.fixed_dictionaries(
            {
                "latitude": st.floats(-90, 90),
                "longitude": st.floats(-180, 180),
                "elevation": st.floats(-100, 3000),
            }
        ),
        "transducers": st.just([{"channel": 0, "fullScale": 93.09}]),
    },
    {
        "serialNumber": st.one_of(st.text(min_size=100, max_size=200), json_leaves),
        "startTimeUTC": st.one_of(odd_iso_times, json_leaves),
        "geolocation": st.one_of(
            st.fixed_dictionaries(
                {"latitude": numbers, "longitude": numbers},
                optional={"elevation": numbers},
            ),
            json_values,
        ),
        "transducers": st.one_of(
            st.lists(st.fixed_dictionaries({"fullScale": numbers}), max_size=2), json_values
        ),
    },
)


@FUZZ
@given(record=smj0_records)
def test_smj0_metadata_is_read_or_refused_with_audio_file_error(record):
    pcm = struct.pack("<4h", 0, 1, -1, 300)
    body = (
        b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, 2 * SAMPLE_RATE, 2, 16)
        + b"data"
        + struct.pack("<I", len(pcm))
        + pcm
    )
    payload = zlib.compress(json.dumps(record).encode())
    body += b"smj0" + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) % 2)
    data = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    try:
        audio = sensor_audio_from_smj0(parse_wav_bytes(data), source="fuzz.wav")
    except AudioFileError as error:
        event("refused")
        assert str(error)
    else:
        event("read")
        assert math.isfinite(audio.start_time)
        assert -90 <= audio.position["latitude"] <= 90
        assert all(math.isfinite(value) for value in audio.position.values())
