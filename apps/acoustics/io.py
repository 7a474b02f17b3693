"""Read and write pulse reports in the ShotSpotter live-fire layout.

A test folder holds `*.allpulses.json` (every pulse the sensors reported) and, where
present, `*.weather.json`. Only those two are read: the survey, the published tuples and
the audio are answers or raw data, not the input a server sees.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from apps.acoustics.numbers import finite_float
from apps.acoustics.types import Pulse, Weather

# Fields of one pulse record in `*.allpulses.json`, in file order.
PULSE_FIELDS = (
    "pulse_uuid",
    "serial_number",
    "arrival_time_utc",
    "location",
    "location_error",
    "signal_to_noise_dB",
    "power_dB_SPL",
)
_REQUIRED_FIELDS = ("pulse_uuid", "serial_number", "arrival_time_utc", "location")
_REQUIRED_SET, _FIELD_SET = frozenset(_REQUIRED_FIELDS), frozenset(PULSE_FIELDS)
_AXES = frozenset("xyz")
# Beyond any recorded surface gust (113 m/s): a weather file saying more is refused.
MAX_WIND_SPEED_MS = 120.0


class PulseFileError(ValueError):
    """Input that cannot be read as pulse reports; the message says what and where."""


@dataclass(frozen=True)
class PulseInput:
    """What one PATH yields: its pulses and the weather (None when no weather file)."""

    source: str
    pulses: list[Pulse]
    weather: Weather | None


def parse_utc(text: str) -> float:
    """ISO-8601 UTC timestamp ('...Z' or '+00:00', microseconds allowed) -> epoch seconds."""
    if not isinstance(text, str) or not text:
        raise PulseFileError(f"timestamp must be a non-empty string, got {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise PulseFileError(f"bad timestamp {text!r}: {error}") from None
    if moment.tzinfo is None:
        raise PulseFileError(f"timestamp {text!r} has no time zone; expected UTC ('Z')")
    offset = moment.utcoffset()
    if offset is None or offset.total_seconds() != 0:
        raise PulseFileError(f"timestamp {text!r} is not UTC")
    whole = moment.replace(microsecond=0).timestamp()
    return whole + moment.microsecond * 1e-6


def format_utc(t: float) -> str:
    """Epoch seconds -> ISO-8601 with Z; milliseconds when exact (as in the data), else µs."""
    if not math.isfinite(t):
        raise ValueError(f"cannot format non-finite time {t!r}")
    whole = math.floor(t)
    micro = round((t - whole) * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    stamp = datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if micro % 1000 == 0:
        return f"{stamp}.{micro // 1000:03d}Z"
    return f"{stamp}.{micro:06d}Z"


def _finite_number(value, *, what: str, where: str, optional: bool = False) -> float | None:
    # Fast path for the usual finite JSON float (tens of thousands per input set).
    if type(value) is float and math.isfinite(value):
        return value
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PulseFileError(f"{where}: {what} must be a number, got {value!r}")
    number = finite_float(value)
    if number is None:
        raise PulseFileError(f"{where}: {what} is not finite ({value!r})")
    return number


def pulse_from_record(record, *, where: str) -> Pulse:
    """One JSON record of an allpulses file -> Pulse, with a clear error if malformed."""
    if not isinstance(record, dict):
        raise PulseFileError(f"{where}: expected an object, got {type(record).__name__}")
    if not record.keys() >= _REQUIRED_SET:
        missing = [name for name in _REQUIRED_FIELDS if name not in record]
        raise PulseFileError(f"{where}: missing field(s) {', '.join(missing)}")
    uuid, serial = record["pulse_uuid"], record["serial_number"]
    if not isinstance(uuid, str) or not uuid:
        raise PulseFileError(f"{where}: pulse_uuid must be a non-empty string")
    if not isinstance(serial, str) or not serial:
        raise PulseFileError(f"{where}: serial_number must be a non-empty string")
    try:
        t = parse_utc(record["arrival_time_utc"])
    except PulseFileError as error:
        raise PulseFileError(f"{where}: arrival_time_utc: {error}") from None
    location = record["location"]
    if not isinstance(location, dict):
        raise PulseFileError(f"{where}: location must be an object with x, y, z")
    if not location.keys() >= _AXES:
        missing = [axis for axis in ("x", "y", "z") if axis not in location]
        raise PulseFileError(f"{where}: location is missing {', '.join(missing)}")
    x = _finite_number(location["x"], what="location.x", where=where)
    y = _finite_number(location["y"], what="location.y", where=where)
    z = _finite_number(location["z"], what="location.z", where=where)
    extras = {}
    if not record.keys() <= _FIELD_SET:
        extras = {k: v for k, v in record.items() if k not in _FIELD_SET}
    return Pulse(
        pulse_uuid=uuid,
        sensor_id=serial,
        t=t,
        x=x,
        y=y,
        z=z,
        power_db_spl=_finite_number(
            record.get("power_dB_SPL"), what="power_dB_SPL", where=where, optional=True
        ),
        snr_db=_finite_number(
            record.get("signal_to_noise_dB"), what="signal_to_noise_dB", where=where, optional=True
        ),
        location_error_m=_finite_number(
            record.get("location_error"), what="location_error", where=where, optional=True
        ),
        features=extras,
    )


def pulse_to_record(pulse: Pulse) -> dict:
    """Pulse -> JSON record in the allpulses layout (extra features follow the known fields)."""
    record = {
        "pulse_uuid": pulse.pulse_uuid,
        "serial_number": pulse.sensor_id,
        "arrival_time_utc": format_utc(pulse.t),
        "location": {"x": pulse.x, "y": pulse.y, "z": pulse.z},
    }
    if pulse.location_error_m is not None:
        record["location_error"] = pulse.location_error_m
    if pulse.snr_db is not None:
        record["signal_to_noise_dB"] = pulse.snr_db
    if pulse.power_db_spl is not None:
        record["power_dB_SPL"] = pulse.power_db_spl
    clashes = sorted(set(pulse.features) & set(PULSE_FIELDS))
    if clashes:
        raise ValueError(f"pulse {pulse.pulse_uuid}: feature names clash with fields {clashes}")
    record.update(pulse.features)
    return record


def _load_json(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PulseFileError(f"{path}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise PulseFileError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PulseFileError(f"{path}: not valid JSON ({error})") from None
    except RecursionError:
        raise PulseFileError(f"{path}: JSON nested too deeply") from None


def read_allpulses(path: str | Path) -> list[Pulse]:
    """Read one `*.allpulses.json` file; raises PulseFileError naming the bad record."""
    path = Path(path)
    records = _load_json(path)
    if not isinstance(records, list):
        raise PulseFileError(f"{path}: expected a JSON list of pulse records")
    pulses = [pulse_from_record(r, where=f"{path} record {i}") for i, r in enumerate(records)]
    seen: set[str] = set()
    for pulse in pulses:
        if pulse.pulse_uuid in seen:
            raise PulseFileError(f"{path}: duplicate pulse_uuid {pulse.pulse_uuid}")
        seen.add(pulse.pulse_uuid)
    return pulses


def read_weather(path: str | Path) -> Weather:
    """Read one `*.weather.json` file (temperature °C, wind speed m/s, from-azimuth deg)."""
    path = Path(path)
    record = _load_json(path)
    if not isinstance(record, dict):
        raise PulseFileError(f"{path}: expected a JSON object")
    where = str(path)
    temperature = _finite_number(record.get("temperature"), what="temperature", where=where)
    if not -60.0 <= temperature <= 60.0:
        raise PulseFileError(f"{path}: temperature {temperature} °C is not plausible")
    speed = _finite_number(record.get("speed", 0.0), what="speed", where=where)
    direction = _finite_number(record.get("direction", 0.0), what="direction", where=where)
    if speed < 0:
        raise PulseFileError(f"{path}: negative wind speed {speed}")
    # A unit mix-up (km/h, knots) or junk would move every fix by the wind shift.
    if speed > MAX_WIND_SPEED_MS:
        raise PulseFileError(
            f"{path}: wind speed {speed} m/s is not plausible (at most {MAX_WIND_SPEED_MS:g})"
        )
    # A tiny negative angle rounds to 360.0 % 360 in floats; keep the azimuth in [0, 360).
    wind_from = direction % 360.0
    wind_from = 0.0 if wind_from >= 360.0 else wind_from
    return Weather(temperature_c=temperature, wind_speed_ms=speed, wind_from_deg=wind_from)


def _single(folder: Path, pattern: str) -> Path | None:
    matches = sorted(folder.glob(pattern))
    if len(matches) > 1:
        names = ", ".join(m.name for m in matches)
        raise PulseFileError(f"{folder}: more than one {pattern} file ({names})")
    return matches[0] if matches else None


def read_pulse_input(path: str | Path) -> PulseInput:
    """A test folder (allpulses + optional weather) or one allpulses file -> PulseInput."""
    path = Path(path)
    if path.is_dir():
        pulses_file = _single(path, "*.allpulses.json")
        if pulses_file is None:
            raise PulseFileError(f"{path}: no *.allpulses.json file in this folder")
        weather_file = _single(path, "*.weather.json")
    elif path.is_file():
        pulses_file, weather_file = path, None
        if path.name.endswith(".allpulses.json"):
            sibling = path.with_name(path.name[: -len(".allpulses.json")] + ".weather.json")
            weather_file = sibling if sibling.is_file() else None
    else:
        raise PulseFileError(f"{path}: no such file or folder")
    weather = read_weather(weather_file) if weather_file is not None else None
    return PulseInput(source=str(path), pulses=read_allpulses(pulses_file), weather=weather)


def write_allpulses(path: str | Path, pulses: list[Pulse]) -> None:
    """Write pulses in the allpulses layout (4-space indented JSON list, as in the data)."""
    records = [pulse_to_record(p) for p in pulses]
    Path(path).write_text(json.dumps(records, indent=4) + "\n", encoding="utf-8")
