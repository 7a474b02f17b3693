"""Pulse-detection benchmark on the Pittsburgh live-fire audio (TN 098 data).

Reference: the pulses ShotSpotter selected for shots (`pulse_uuids` in
`*.nlos-tuples.json`) on the sensors whose audio is released. Each is "found" when a
pulse detected in that sensor's audio lies within +-2 ms of its published arrival time
(published to 1 ms). Timing offsets are ours minus ShotSpotter's. The table also
reports how our power and SNR compare with the published `power_dB_SPL` and
`signal_to_noise_dB` of the found pulses, and how many pulses we report per file.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from apps.acoustics.detection import detect_pulses
from apps.acoustics.io import PulseFileError, read_allpulses
from apps.acoustics.wavfiles import read_live_fire_audio

TOLERANCE_S = 0.002
FIRING_POSITIONS = ("FP1", "FP2", "FP3", "FP4")
UNCLIPPED_BELOW_DB_SPL = 90.0  # power comparison only on pulses well below full scale


def default_data_dir() -> Path:
    env = os.environ.get("SHOTSPOTTER_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return root / "pittsburgh-live-fire"


def live_fire_root(data_dir: str | Path | None) -> Path:
    """Accept the pittsburgh-live-fire folder itself or the shared data folder above it."""
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if (root / "pittsburgh-live-fire").is_dir():
        root = root / "pittsburgh-live-fire"
    return root


@dataclass
class PositionResult:
    position: str
    files: int = 0
    selected: int = 0
    found: int = 0
    detected: int = 0
    published: int = 0  # every pulse ShotSpotter reported for these sensors
    offsets_s: list[float] = field(default_factory=list)
    power_diff_db: list[float] = field(default_factory=list)
    snr_diff_db: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def recall(self) -> float:
        return self.found / self.selected if self.selected else float("nan")


def _selected_uuids(folder: Path) -> set[str]:
    uuids: set[str] = set()
    for path in sorted(folder.glob("*.nlos-tuples.json")):
        try:
            shots = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PulseFileError(f"{path}: cannot read tuples ({error})") from None
        for shot in shots if isinstance(shots, list) else []:
            if isinstance(shot, dict) and isinstance(shot.get("pulse_uuids"), list):
                uuids.update(u for u in shot["pulse_uuids"] if isinstance(u, str))
    return uuids


def live_fire_folders(root: Path, *, quick: bool) -> list[tuple[str, Path]]:
    folders = []
    for position in FIRING_POSITIONS:
        tests = sorted(p for p in (root / position).glob("test_*") if p.is_dir())
        if quick:
            tests = tests[::4]
        folders.extend((position, test) for test in tests)
    return folders


def measure_live_fire(
    *, data_dir: str | Path | None = None, quick: bool = False, with_features: bool = False
) -> dict[str, PositionResult]:
    """Detect pulses in every live-fire audio file; score against the selected pulses."""
    root = live_fire_root(data_dir)
    results = {p: PositionResult(position=p) for p in FIRING_POSITIONS}
    for position, folder in live_fire_folders(root, quick=quick):
        result = results[position]
        pulse_files = sorted(folder.glob("*.allpulses.json"))
        if not pulse_files:
            continue
        pulses = read_allpulses(pulse_files[0])
        selected = _selected_uuids(folder)
        for wav in sorted(folder.glob("*.audio.*.wav")):
            started = time.perf_counter()
            audio = read_live_fire_audio(wav)
            detected = detect_pulses(
                audio.samples, audio.sample_rate, audio.start_time, with_features=with_features
            )
            result.seconds += time.perf_counter() - started
            result.files += 1
            result.detected += len(detected)
            times = np.array([d.arrival_time for d in detected])
            for pulse in pulses:
                if pulse.sensor_id != audio.serial:
                    continue
                result.published += 1
                if pulse.pulse_uuid not in selected:
                    continue
                result.selected += 1
                if not len(times):
                    continue
                nearest = int(np.argmin(np.abs(times - pulse.t)))
                offset = float(times[nearest] - pulse.t)
                if abs(offset) > TOLERANCE_S:
                    continue
                result.found += 1
                result.offsets_s.append(offset)
                match = detected[nearest]
                if pulse.power_db_spl is not None and pulse.power_db_spl < UNCLIPPED_BELOW_DB_SPL:
                    result.power_diff_db.append(match.power_db_spl - pulse.power_db_spl)
                if pulse.snr_db is not None:
                    result.snr_diff_db.append(match.signal_to_noise_db - pulse.snr_db)
    return results


def total(results: dict[str, PositionResult]) -> PositionResult:
    combined = PositionResult(position="all")
    for r in results.values():
        combined.files += r.files
        combined.selected += r.selected
        combined.found += r.found
        combined.detected += r.detected
        combined.published += r.published
        combined.offsets_s += r.offsets_s
        combined.power_diff_db += r.power_diff_db
        combined.snr_diff_db += r.snr_diff_db
        combined.seconds += r.seconds
    return combined


def _pct(values: list[float], q: float, scale: float = 1.0) -> str:
    return f"{np.percentile(values, q) * scale:+.2f}" if values else "-"


def run(*, data_dir: str | Path | None = None, quick: bool = False, out=print) -> dict:
    """Print the detection table; returns the per-position results (empty without data)."""
    root = live_fire_root(data_dir)
    if not root.is_dir():
        out(f"pulse detection: no live-fire data at {root} (skipped)")
        return {}
    results = measure_live_fire(data_dir=root, quick=quick, with_features=True)
    overall = total(results)
    out(
        f"Pulse detection on live-fire audio, {root}{' (quick subset)' if quick else ''}: "
        f"ShotSpotter-selected pulses found within +-{TOLERANCE_S * 1e3:.0f} ms"
    )
    header = (
        f"{'FP':<4} {'files':>5} {'selected':>8} {'found':>6} {'recall':>7} "
        f"{'med ms':>7} {'p95|ms|':>7} {'det/file':>8} {'SST/file':>8} {'files/s':>7}"
    )
    out(header)
    for r in [*results.values(), overall]:
        if not r.files:
            continue
        abs_ms = [abs(o) * 1e3 for o in r.offsets_s]
        out(
            f"{r.position:<4} {r.files:>5} {r.selected:>8} {r.found:>6} {r.recall:>7.1%} "
            f"{_pct(r.offsets_s, 50, 1e3):>7} {_pct(abs_ms, 95):>7} "
            f"{r.detected / r.files:>8.1f} {r.published / r.files:>8.1f} "
            f"{r.files / max(r.seconds, 1e-9):>7.1f}"
        )
    if overall.power_diff_db:
        out(
            f"power_db_spl - ShotSpotter's (unclipped, n={len(overall.power_diff_db)}): "
            f"median {_pct(overall.power_diff_db, 50)} dB, "
            f"IQR {_pct(overall.power_diff_db, 25)}..{_pct(overall.power_diff_db, 75)} dB"
        )
    if overall.snr_diff_db:
        out(
            f"signal_to_noise_db - ShotSpotter's (n={len(overall.snr_diff_db)}): "
            f"median {_pct(overall.snr_diff_db, 50)} dB, "
            f"IQR {_pct(overall.snr_diff_db, 25)}..{_pct(overall.snr_diff_db, 75)} dB"
        )
    out(
        "med ms: median offset ours - published (published times are whole ms); "
        "det/file: pulses we report per 10 s file; SST/file: pulses ShotSpotter's sensors "
        "reported; files/s includes reading the WAV and computing features"
    )
    return results
