"""Agent configuration: a TOML (or JSON) file, validated strictly with clear messages.

Example (TOML)::

    server_url = "https://shotspotter.example.org"
    serial = "S-0001"
    private_key = "/etc/sensor/key.pem"       # Ed25519 PEM (register_sensor --key-out)
    server_public_key = "/etc/sensor/server.pub"  # manage.py server_public_key
    data_dir = "/var/lib/sensor-agent"        # outbox, ring buffer, state
    buffer_retention_hours = 72               # at most 72: configurable downwards only

    [position]
    latitude = 40.698
    longitude = -89.607
    elevation_m = 190.0

    [input]
    type = "wav-files"                        # wav-files | wav-dir | sound-device
    paths = ["clip1.wav"]
    realtime = false
    timestamps = "file"                       # file (smj0/companion json) | now

Relative paths are relative to the directory of the configuration file.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from apps.acoustics.detection import DEFAULT_THRESHOLD
from apps.acoustics.numbers import finite_float
from apps.sensor_agent import MAX_RETENTION_HOURS

# The server refuses batches of more than 1000 pulses (SENSOR_PULSE_BATCH_MAX).
MAX_BATCH_PULSES = 1000
# Longest audio request window the agent answers (seconds); longer requests are refused.
MAX_AUDIO_REQUEST_S = 120.0
INPUT_TYPES = ("wav-files", "wav-dir", "sound-device", "none")


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


@dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float
    elevation_m: float
    error_m: float = 5.0


@dataclass(frozen=True)
class InputConfig:
    type: str = "none"
    paths: tuple[Path, ...] = ()
    directory: Path | None = None
    realtime: bool = False
    timestamps: str = "file"  # "file": time of first sample from smj0/json; "now": shift
    chunk_s: float = 5.0
    device: str | int | None = None
    sample_rate: int = 12_000
    poll_interval_s: float = 2.0


@dataclass(frozen=True)
class DetectionConfig:
    threshold: float = DEFAULT_THRESHOLD  # step-kernel score over the noise floor
    min_power_db_spl: float = 0.0  # report only pulses at least this loud
    full_scale_db_spl: float | None = None  # None: the file's own, else the detector default


@dataclass(frozen=True)
class AgentConfig:
    server_url: str
    serial: str
    private_key_path: Path
    data_dir: Path
    # The server's Ed25519 public key(s): audio requests must be signed with one of them.
    server_public_key_path: Path
    allow_insecure_http: bool = False
    buffer_retention_hours: float = MAX_RETENTION_HOURS
    batch_max_pulses: int = 200
    batch_interval_s: float = 1.0
    heartbeat_interval_s: float = 60.0
    audio_poll_interval_s: float = 5.0
    purge_interval_s: float = 60.0
    request_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    max_audio_request_s: float = MAX_AUDIO_REQUEST_S
    position: Position | None = None
    input: InputConfig = field(default_factory=InputConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)

    @property
    def retention_s(self) -> float:
        return self.buffer_retention_hours * 3600.0


def check_retention_hours(value) -> float:
    """The ring buffer retention: a positive number of hours, at most 72."""
    if finite_float(value) is None:
        raise ConfigError(f"buffer_retention_hours must be a number of hours, got {value!r}")
    if value <= 0:
        raise ConfigError(f"buffer_retention_hours must be positive, got {value!r}")
    if value > MAX_RETENTION_HOURS:
        raise ConfigError(
            f"buffer_retention_hours = {value!r} is refused: audio is deleted from the sensor "
            f"within {MAX_RETENTION_HOURS:g} hours (privacy policy); the retention can only be "
            "lowered"
        )
    return float(value)


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); no DNS look-up."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_server_url(value, *, allow_insecure_http: bool = False) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("server_url is required (e.g. https://server.example.org)")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"server_url must be an http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"server_url must not have a query or fragment, got {value!r}")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"server_url {value!r} is plain http to another machine: anyone on the path could "
            "read and alter the traffic. Use https, or set allow_insecure_http = true (a "
            "trusted private network; audio requests must still carry the server's signature)"
        )
    return value.rstrip("/")


def _number(raw: dict, name: str, default, *, low=None, high=None, integer=False, where=""):
    value = raw.pop(name, default)
    label = f"{where}{name}"
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{label} must be a number, got {value!r}")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise ConfigError(f"{label} must be a whole number, got {value!r}")
    if finite_float(value) is None:
        raise ConfigError(f"{label} must be finite, got {value!r}")
    if low is not None and value < low:
        raise ConfigError(f"{label} must be at least {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{label} must be at most {high}, got {value!r}")
    return int(value) if integer else float(value)


def _path(value, *, base: Path, label: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{label} must be a path, got {value!r}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _reject_unknown(raw: dict, where: str) -> None:
    if raw:
        names = ", ".join(sorted(raw))
        raise ConfigError(f"unknown setting(s) {where}{names}")


def _position(raw) -> Position | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("position must be a table with latitude, longitude, elevation_m")
    raw = dict(raw)
    where = "position."
    for name in ("latitude", "longitude", "elevation_m"):
        if name not in raw:
            raise ConfigError(f"{where}{name} is required")
    position = Position(
        latitude=_number(raw, "latitude", None, low=-90, high=90, where=where),
        longitude=_number(raw, "longitude", None, low=-180, high=180, where=where),
        elevation_m=_number(raw, "elevation_m", None, low=-500, high=9000, where=where),
        error_m=_number(raw, "error_m", 5.0, low=0, high=10_000, where=where),
    )
    _reject_unknown(raw, where)
    return position


def _input(raw, *, base: Path) -> InputConfig:
    if raw is None:
        return InputConfig()
    if not isinstance(raw, dict):
        raise ConfigError("input must be a table")
    raw = dict(raw)
    where = "input."
    kind = raw.pop("type", "none")
    if kind not in INPUT_TYPES:
        raise ConfigError(f"input.type must be one of {', '.join(INPUT_TYPES)}, got {kind!r}")
    paths = raw.pop("paths", [])
    if not isinstance(paths, list):
        raise ConfigError("input.paths must be a list of WAV files")
    paths = tuple(_path(p, base=base, label="input.paths[]") for p in paths)
    directory = raw.pop("directory", None)
    directory = None if directory is None else _path(directory, base=base, label="input.directory")
    realtime = raw.pop("realtime", False)
    if not isinstance(realtime, bool):
        raise ConfigError(f"input.realtime must be true or false, got {realtime!r}")
    timestamps = raw.pop("timestamps", "file")
    if timestamps not in ("file", "now"):
        raise ConfigError(f"input.timestamps must be 'file' or 'now', got {timestamps!r}")
    device = raw.pop("device", None)
    if device is not None and (isinstance(device, bool) or not isinstance(device, str | int)):
        raise ConfigError(f"input.device must be a device name or index, got {device!r}")
    config = InputConfig(
        type=kind,
        paths=paths,
        directory=directory,
        realtime=realtime,
        timestamps=timestamps,
        chunk_s=_number(raw, "chunk_s", 5.0, low=1.0, high=60.0, where=where),
        device=device,
        sample_rate=_number(
            raw, "sample_rate", 12_000, low=8000, high=96_000, integer=True, where=where
        ),
        poll_interval_s=_number(raw, "poll_interval_s", 2.0, low=0.1, high=3600, where=where),
    )
    _reject_unknown(raw, where)
    if kind == "wav-files" and not paths:
        raise ConfigError("input.paths must list at least one WAV file for type 'wav-files'")
    if kind == "wav-dir" and directory is None:
        raise ConfigError("input.directory is required for type 'wav-dir'")
    return config


def _detection(raw) -> DetectionConfig:
    if raw is None:
        return DetectionConfig()
    if not isinstance(raw, dict):
        raise ConfigError("detection must be a table")
    raw = dict(raw)
    where = "detection."
    config = DetectionConfig(
        threshold=_number(raw, "threshold", DEFAULT_THRESHOLD, low=0.1, high=1000, where=where),
        min_power_db_spl=_number(raw, "min_power_db_spl", 0.0, low=0, high=200, where=where),
        full_scale_db_spl=_number(raw, "full_scale_db_spl", None, low=40, high=200, where=where),
    )
    _reject_unknown(raw, where)
    return config


def config_from_dict(raw: dict, *, base: Path) -> AgentConfig:
    """Validate a parsed configuration; relative paths are taken from ``base``."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a table of settings")
    raw = dict(raw)
    serial = raw.pop("serial", None)
    if not isinstance(serial, str) or not 0 < len(serial.strip()) <= 64:
        raise ConfigError(f"serial must be the sensor's serial number (1-64 chars), got {serial!r}")
    if "private_key" not in raw:
        raise ConfigError("private_key (path to the Ed25519 PEM file) is required")
    if "data_dir" not in raw:
        raise ConfigError("data_dir (where the outbox and ring buffer live) is required")
    if "server_public_key" not in raw:
        raise ConfigError(
            "server_public_key (path to the server's Ed25519 public key, from "
            "`manage.py server_public_key`) is required: audio requests are answered only "
            "when the server signed them"
        )
    allow_insecure_http = raw.pop("allow_insecure_http", False)
    if not isinstance(allow_insecure_http, bool):
        raise ConfigError(f"allow_insecure_http must be true or false, got {allow_insecure_http!r}")
    retention = check_retention_hours(raw.pop("buffer_retention_hours", MAX_RETENTION_HOURS))
    config = AgentConfig(
        server_url=check_server_url(
            raw.pop("server_url", None), allow_insecure_http=allow_insecure_http
        ),
        serial=serial.strip(),
        private_key_path=_path(raw.pop("private_key"), base=base, label="private_key"),
        data_dir=_path(raw.pop("data_dir"), base=base, label="data_dir"),
        server_public_key_path=_path(
            raw.pop("server_public_key"), base=base, label="server_public_key"
        ),
        allow_insecure_http=allow_insecure_http,
        buffer_retention_hours=retention,
        batch_max_pulses=_number(
            raw, "batch_max_pulses", 200, low=1, high=MAX_BATCH_PULSES, integer=True
        ),
        batch_interval_s=_number(raw, "batch_interval_s", 1.0, low=0.0, high=3600),
        heartbeat_interval_s=_number(raw, "heartbeat_interval_s", 60.0, low=1.0, high=86400),
        audio_poll_interval_s=_number(raw, "audio_poll_interval_s", 5.0, low=0.5, high=3600),
        purge_interval_s=_number(raw, "purge_interval_s", 60.0, low=1.0, high=3600),
        request_timeout_s=_number(raw, "request_timeout_s", 10.0, low=0.1, high=300),
        backoff_initial_s=_number(raw, "backoff_initial_s", 1.0, low=0.01, high=3600),
        backoff_max_s=_number(raw, "backoff_max_s", 300.0, low=0.01, high=86400),
        max_audio_request_s=_number(
            raw, "max_audio_request_s", MAX_AUDIO_REQUEST_S, low=1.0, high=MAX_AUDIO_REQUEST_S
        ),
        position=_position(raw.pop("position", None)),
        input=_input(raw.pop("input", None), base=base),
        detection=_detection(raw.pop("detection", None)),
    )
    _reject_unknown(raw, "")
    return config


def load_config(path: str | Path) -> AgentConfig:
    """Read and validate a TOML (or ``.json``) configuration file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read ({error})") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"{path}: not valid {kind}: {error}") from None
    try:
        return config_from_dict(raw, base=path.resolve().parent)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
