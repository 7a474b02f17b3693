"""``python -m apps.sensor_agent --config FILE``: run the reference sensor agent."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from apps.sensor_agent import sources
from apps.sensor_agent.agent import AgentError, SensorAgent
from apps.sensor_agent.config import ConfigError, load_config


def build_input(config, stop: threading.Event):
    settings = config.input
    if settings.type == "wav-files":
        return sources.wav_files(
            settings.paths,
            timestamps=settings.timestamps,
            realtime=settings.realtime,
            chunk_s=settings.chunk_s,
            stop=stop,
        )
    if settings.type == "wav-dir":
        return sources.wav_directory(
            settings.directory,
            state_file=config.data_dir / "processed-files.txt",
            timestamps=settings.timestamps,
            realtime=settings.realtime,
            chunk_s=settings.chunk_s,
            poll_interval_s=settings.poll_interval_s,
            stop=stop,
        )
    if settings.type == "sound-device":
        return sources.sound_device(
            device=settings.device,
            sample_rate=settings.sample_rate,
            chunk_s=settings.chunk_s,
            stop=stop,
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apps.sensor_agent",
        description="Reference sensor agent: detects pulses, sends summary data, answers "
        "audio requests from its ring buffer (never streams audio).",
    )
    parser.add_argument("--config", required=True, help="TOML (or .json) configuration file.")
    parser.add_argument(
        "--exit-when-done",
        action="store_true",
        help="Exit once the WAV input is read and every pulse is delivered.",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.config)
        agent = SensorAgent(config)
    except (ConfigError, AgentError) as error:
        print(f"sensor agent: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum, _frame):
        logging.getLogger("sensor_agent").info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        agent.run(build_input(config, stop), stop=stop, exit_when_done=args.exit_when_done)
    except RuntimeError as error:
        print(f"sensor agent: {error}", file=sys.stderr)
        return 1
    finally:
        queued = len(agent.outbox)
        agent.close()
    if queued:
        logging.getLogger("sensor_agent").warning(
            "%d pulse(s) still queued in the outbox; they are sent on the next start", queued
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
