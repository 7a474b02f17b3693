"""Coverage-guided fuzzing (atheris / libFuzzer) of the Django-free file parsers.

One target per run, chosen by the first argument; the rest are libFuzzer options:

    .venv/bin/python tests/security/atheris_parsers.py wav -runs=20000
    .venv/bin/python tests/security/atheris_parsers.py allpulses -max_total_time=600

Targets: ``wav`` (RIFF/WAV bytes, their ``smj0`` chunk and its metadata) and
``allpulses`` (an allpulses / weather JSON document). Any exception other than the
parser's documented error is a crash: libFuzzer prints the input and exits non-zero.
``tests/security/test_atheris.py`` runs each target for a bounded number of inputs.
"""

from __future__ import annotations

import inspect
import json
import sys

import atheris

from apps.acoustics import io, wavfiles
from apps.acoustics.io import PulseFileError, parse_utc, pulse_from_record
from apps.acoustics.wavfiles import AudioFileError, parse_wav_bytes, sensor_audio_from_smj0

# Coverage feedback from the parsers' own functions (instrumented in place).
for module in (io, wavfiles):
    for value in list(vars(module).values()):
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            atheris.instrument_func(value)


def fuzz_wav(data: bytes) -> None:
    try:
        content = parse_wav_bytes(data, where="fuzz")
        if content.smj0 is not None:
            sensor_audio_from_smj0(content, source="fuzz")
    except AudioFileError:
        pass


def fuzz_allpulses(data: bytes) -> None:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return  # not JSON: the readers refuse it before any record (tested elsewhere)
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        try:
            pulse_from_record(record, where=f"record {index}")
        except PulseFileError:
            pass
        if isinstance(record, dict):
            try:
                parse_utc(record.get("arrival_time_utc"))
            except PulseFileError:
                pass


TARGETS = {"wav": fuzz_wav, "allpulses": fuzz_allpulses}


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[argv[1]]
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
