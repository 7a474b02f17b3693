"""The sensor agent: audio in, ring buffer, pulses out (store-and-forward), audio on request.

What leaves the sensor, and where that is decided:
- pulses (summary numbers) -- ``queue_pulses`` -> outbox -> ``send_pending``;
- a heartbeat (position, clock and buffer status) -- ``heartbeat``;
- audio ONLY in ``answer_audio_request``, for a request the server made, cut with
  ``RingBuffer.cut`` to the request's window and checked again before the upload.
There is no other code path that sends audio, and none that streams it.

"The server made" is checked, not assumed: ``poll_audio_requests`` answers only a poll
answer signed with the server's Ed25519 key (``server_public_key``), naming this sensor,
echoing the nonce of this very poll and issued within ``SERVER_ANSWER_MAX_SKEW_S``.
Anyone else on the path (plain http, a broken TLS set-up) cannot make the sensor upload.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from apps.sensor_agent import FIRMWARE
from apps.sensor_agent.client import (
    AUDIO_REQUESTS_PATH,
    HEARTBEAT_PATH,
    PULSES_PATH,
    SensorClient,
    Unreachable,
    parse_utc,
    utc_iso,
)
from apps.sensor_agent.config import MAX_AUDIO_REQUEST_S, AgentConfig
from apps.sensor_agent.detector import StreamDetector, pulse_payload
from apps.sensor_agent.outbox import Outbox, QueuedPulse
from apps.sensor_agent.ringbuffer import RingBuffer, wav_bytes
from apps.sensors.signing import (
    SERVER_SIGNATURE_HEADER,
    KeyFormatError,
    load_private_key_pem,
    load_public_keys,
    server_answer_signed,
)

logger = logging.getLogger("sensor_agent")

# The server accepts pulses up to 72 h old; older ones are dropped from the outbox.
SERVER_PULSE_MAX_AGE_S = 72 * 3600 - 60
# How long after a requested window has ended the agent waits for its audio to arrive.
AUDIO_WAIT_GRACE_S = 10.0
# A signed poll answer must have been issued within this many seconds of the agent's
# estimate of the server's clock (either way); it must also echo this poll's nonce.
SERVER_ANSWER_MAX_SKEW_S = 60.0
# Final answers to an audio request: do not try again.
FINAL_AUDIO_STATUSES = {201, 400, 404, 409, 410, 413, 422}


class AgentError(RuntimeError):
    """The agent cannot start (key, data directory)."""


@dataclass
class SendResult:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: bool = False
    error: str = ""


@dataclass
class AudioAnswer:
    request_id: int
    outcome: str  # sent | waiting | not-buffered | refused | server-<status> | unreachable
    clip_start: float | None = None
    clip_samples: int = 0
    detail: str = ""


@dataclass
class _Backoff:
    initial: float
    maximum: float
    failures: int = 0
    not_before: float = 0.0

    def fail(self, now: float) -> float:
        self.failures += 1
        delay = min(self.maximum, self.initial * 2 ** (self.failures - 1))
        delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
        self.not_before = now + delay
        return delay

    def ok(self) -> None:
        self.failures = 0
        self.not_before = 0.0


@dataclass
class _Timers:
    next_send: float = 0.0
    next_heartbeat: float = 0.0
    next_poll: float = 0.0
    next_purge: float = 0.0
    extra: dict = field(default_factory=dict)


def _read_key_file(path: Path, *, what: str, parse):
    """``parse`` of the file's bytes; an unreadable or malformed file is an AgentError."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise AgentError(f"cannot read {what} {path}: {error.strerror}") from None
    try:
        return parse(data)
    except KeyFormatError as error:
        raise AgentError(f"{path}: {error}") from None


def load_key(path: Path):
    return _read_key_file(path, what="the private key", parse=load_private_key_pem)


def load_server_keys(path: Path):
    """The server's public key(s) the agent trusts for audio requests (rotation: several)."""
    return _read_key_file(path, what="the server public key", parse=load_public_keys)


class UntrustedAnswer(Exception):
    """A poll answer that is not the server's signed answer to this poll for this sensor."""


class SensorAgent:
    def __init__(
        self,
        config: AgentConfig,
        *,
        private_key=None,
        server_keys=None,
        session=None,
        clock=time.time,
    ):
        self.config = config
        self.clock = clock
        try:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise AgentError(f"cannot create data_dir {config.data_dir}: {error}") from None
        key = private_key if private_key is not None else load_key(config.private_key_path)
        self.server_keys = (
            list(server_keys)
            if server_keys is not None
            else load_server_keys(config.server_public_key_path)
        )
        # Poll answers refused as untrusted (unsigned, badly signed, not for this poll).
        self.untrusted_answers = 0
        self.client = SensorClient(
            server_url=config.server_url,
            serial=config.serial,
            private_key=key,
            timeout_s=config.request_timeout_s,
            session=session,
        )
        self.buffer = RingBuffer(
            config.data_dir / "audio", retention_hours=config.buffer_retention_hours
        )
        self.outbox = Outbox(config.data_dir / "outbox.sqlite3")
        self.detector = StreamDetector(
            threshold=config.detection.threshold,
            min_power_db_spl=config.detection.min_power_db_spl,
            full_scale_db_spl=config.detection.full_scale_db_spl,
        )
        self._answered_path = config.data_dir / "audio-requests.json"
        self._answered: dict[str, str] = self._load_answered()
        self._send_backoff = _Backoff(config.backoff_initial_s, config.backoff_max_s)
        self._send_lock = threading.Lock()
        self.clock_offset_s: float | None = None
        self.timers = _Timers()
        # Purge at start-up: nothing older than the retention survives a restart.
        self.purge()

    def close(self) -> None:
        self.outbox.close()
        self.client.session.close()  # no idle keep-alive connections left behind

    # --- audio in -----------------------------------------------------------------------------

    def ingest_audio(
        self, samples, *, sample_rate: int, start: float, full_scale_db_spl: float | None = None
    ) -> list[dict]:
        """Buffer audio and detect pulses in it; the pulses are queued in the outbox."""
        self.buffer.write(samples, sample_rate=sample_rate, start=start)
        found = self.detector.feed(
            samples, sample_rate=sample_rate, start=start, full_scale_db_spl=full_scale_db_spl
        )
        return self._queue_detected(found)

    def end_of_input(self) -> list[dict]:
        return self._queue_detected(self.detector.flush())

    def _queue_detected(self, found) -> list[dict]:
        if not found:
            return []
        payloads = [pulse_payload(p) for p in found]
        self.queue_pulses(payloads, arrival_epochs=[p.arrival_time for p in found])
        return payloads

    def queue_pulses(self, pulses: list[dict], *, arrival_epochs: list[float] | None = None) -> int:
        """Write pulses (API shape) to the outbox; they are sent by ``send_pending``."""
        if arrival_epochs is None:
            arrival_epochs = [parse_utc(p["arrival_time_utc"]) for p in pulses]
        return self.outbox.add(pulses, arrival_epochs=arrival_epochs)

    # --- pulses out (store-and-forward) -----------------------------------------------------

    def send_pending(self, *, force: bool = False) -> SendResult:
        """Send queued pulses in batches until the outbox is empty or the server fails.

        After a failure (no answer, 5xx, 401/403) the agent waits with exponential
        back-off before the next attempt, unless ``force``. Pulses stay queued.
        """
        result = SendResult()
        with self._send_lock:
            now = self.clock()
            if not force and now < self._send_backoff.not_before:
                result.failed = True
                result.error = "backing off"
                return result
            self.outbox.expire(older_than=now - SERVER_PULSE_MAX_AGE_S)
            while True:
                batch = self.outbox.peek(self.config.batch_max_pulses)
                if not batch:
                    break
                if not self._send_batch(batch, result):
                    delay = self._send_backoff.fail(self.clock())
                    logger.warning(
                        "pulses not delivered (%s); %d queued, retrying in %.1f s",
                        result.error,
                        len(self.outbox),
                        delay,
                    )
                    result.failed = True
                    break
                self._send_backoff.ok()
        if result.sent:
            logger.info(
                "delivered %d pulse(s): %d accepted, %d already stored%s",
                result.sent,
                result.accepted,
                result.duplicates,
                f", {result.rejected} refused" if result.rejected else "",
            )
        return result

    def _send_batch(self, batch: list[QueuedPulse], result: SendResult) -> bool:
        """Send one batch; False if it should be retried later (nothing removed)."""
        self.outbox.mark_attempt(batch)
        try:
            reply = self.client.post_json(PULSES_PATH, {"pulses": [item.body for item in batch]})
        except Unreachable as error:
            result.error = str(error)
            return False
        if reply.status == 202:
            data = reply.json()
            self.outbox.remove(batch)
            result.sent += len(batch)
            result.accepted += int(data.get("accepted", 0))
            result.duplicates += int(data.get("duplicates", 0))
            return True
        if reply.status in (400, 409, 413):
            # Refused for what it holds: isolate the pulses at fault, send the rest.
            if len(batch) > 1:
                half = len(batch) // 2
                return self._send_batch(batch[:half], result) and self._send_batch(
                    batch[half:], result
                )
            reason = f"HTTP {reply.status}: {reply.detail()}"
            logger.error("pulse %s refused for good: %s", batch[0].pulse_uuid, reason)
            self.outbox.reject(batch, reason)
            result.rejected += 1
            return True
        result.error = f"HTTP {reply.status}: {reply.detail()}"
        return False

    # --- heartbeat ----------------------------------------------------------------------------

    def heartbeat(self) -> dict | None:
        status = self.buffer.status()
        payload: dict = {
            "firmware": FIRMWARE,
            "buffer": {
                "oldest_sample_utc": utc_iso(status["oldest"]) if status["oldest"] else None,
                "bytes": status["bytes"],
            },
        }
        position = self.config.position
        if position is not None:
            payload["position"] = {
                "latitude": position.latitude,
                "longitude": position.longitude,
                "elevation_m": position.elevation_m,
                "error_m": position.error_m,
            }
        if self.clock_offset_s is not None:
            payload["clock"] = {
                "offset_us": round(self.clock_offset_s * 1e6, 1),
                "synced": abs(self.clock_offset_s) <= 0.05,
            }
        # The agent's own clock, the one _trusted_requests checks answers' freshness with.
        sent_at = self.clock()
        try:
            reply = self.client.post_json(HEARTBEAT_PATH, payload)
        except Unreachable as error:
            logger.warning("heartbeat not delivered: %s", error)
            return None
        received_at = self.clock()
        if reply.status != 200:
            logger.warning("heartbeat refused: HTTP %s %s", reply.status, reply.detail())
            return None
        data = reply.json()
        try:
            server_time = parse_utc(data["server_time_utc"])
            # Offset of this clock from the server's, within half the round trip.
            self.clock_offset_s = (sent_at + received_at) / 2 - server_time
        except (KeyError, ValueError):
            pass
        return data

    # --- audio requests: the only way audio leaves the sensor -----------------------------

    def _load_answered(self) -> dict[str, str]:
        try:
            data = json.loads(self._answered_path.read_text())
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _remember(self, request_id: int, outcome: str) -> None:
        self._answered[str(request_id)] = outcome
        if len(self._answered) > 2000:
            for key in list(self._answered)[:-1000]:
                del self._answered[key]
        tmp = self._answered_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._answered))
        tmp.replace(self._answered_path)

    def poll_audio_requests(self) -> list[AudioAnswer]:
        """Fetch pending audio requests and answer each from the ring buffer.

        Only an answer the server signed for this poll is acted on; anything else is
        logged and nothing is uploaded (``_trusted_requests``).
        """
        try:
            reply = self.client.get(AUDIO_REQUESTS_PATH)
        except Unreachable as error:
            logger.warning("audio requests not fetched: %s", error)
            return []
        if reply.status != 200:
            logger.warning("audio requests refused: HTTP %s %s", reply.status, reply.detail())
            return []
        try:
            requests_ = self._trusted_requests(reply)
        except UntrustedAnswer as error:
            self.untrusted_answers += 1
            logger.error("audio requests answer not trusted, nothing uploaded: %s", error)
            return []
        answers = []
        for request in requests_:
            answer = self.answer_audio_request(request)
            if answer is not None:
                answers.append(answer)
        return answers

    def _trusted_requests(self, reply) -> list:
        """The requests of a poll answer, if it is the server's signed answer to this poll."""
        signature = reply.headers.get(SERVER_SIGNATURE_HEADER)
        if not signature:
            raise UntrustedAnswer("the answer is not signed by the server")
        if not server_answer_signed(
            body=reply.body, header=signature, public_keys=self.server_keys
        ):
            raise UntrustedAnswer("the server signature does not verify with the server key")
        try:
            data = reply.json()
            if not isinstance(data, dict):
                raise TypeError
            serial, nonce, requests_ = data["serial"], data["nonce"], data["requests"]
            issued = parse_utc(data["issued_at"])
            if not isinstance(requests_, list):
                raise TypeError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise UntrustedAnswer(f"unexpected signed answer {reply.body[:200]!r}") from None
        if serial != self.config.serial:
            raise UntrustedAnswer(f"the answer is for sensor {serial!r}, not this one")
        if not reply.nonce or nonce != reply.nonce:
            raise UntrustedAnswer("the answer is for another poll (nonce differs): a replay")
        server_now = self.clock() - (self.clock_offset_s or 0.0)
        if abs(server_now - issued) > SERVER_ANSWER_MAX_SKEW_S:
            raise UntrustedAnswer(
                f"the answer was issued at {utc_iso(issued)}, "
                f"{server_now - issued:+.0f} s from now: stale"
            )
        return requests_

    def answer_audio_request(self, request: dict) -> AudioAnswer | None:
        """Upload the buffered audio inside the request's window, and nothing else."""
        try:
            request_id = request["id"]
            if isinstance(request_id, bool) or not isinstance(request_id, int):
                raise TypeError("id")
            start = parse_utc(request["start_utc"])
            end = parse_utc(request["end_utc"])
            expires = parse_utc(request["expires_at"]) if request.get("expires_at") else None
            rate = request.get("sample_rate")
        except (KeyError, TypeError, ValueError) as error:
            logger.error("malformed audio request %r: %s", request, error)
            return None
        if str(request_id) in self._answered:
            return None
        now = self.clock()
        limit = min(self.config.max_audio_request_s, MAX_AUDIO_REQUEST_S)

        def final(outcome: str, detail: str = "", clip=None) -> AudioAnswer:
            self._remember(request_id, outcome)
            logger.info("audio request %s: %s %s", request_id, outcome, detail)
            return AudioAnswer(
                request_id,
                outcome,
                clip.start if clip else None,
                len(clip.samples) if clip else 0,
                detail,
            )

        if end <= start:
            return final("refused", "empty window")
        if end - start > limit:
            return final("refused", f"window of {end - start:.1f} s exceeds {limit:.0f} s")
        if expires is not None and now >= expires:
            return final("refused", "expired")
        newest = self.buffer.status()["newest"]
        if (newest is None or newest < end) and now < end + AUDIO_WAIT_GRACE_S:
            # The end of the window has not been recorded yet: answer on a later poll.
            return AudioAnswer(request_id, "waiting")
        clip = self.buffer.cut(start, end, now=now)
        if clip is None:
            return final("not-buffered", "no audio of the window is in the buffer")
        if rate is not None and rate != clip.sample_rate:
            return final("refused", f"buffer holds {clip.sample_rate} Hz, {rate} Hz requested")
        # Checked again here, whatever cut() did: never a sample outside the window.
        last_sample = clip.start + (len(clip.samples) - 1) / clip.sample_rate
        if clip.start < start - 1e-6 or last_sample >= end:
            return final("refused", "internal error: clip outside the window (not sent)")
        try:
            reply = self.client.put_wav(
                f"{AUDIO_REQUESTS_PATH}/{request_id}",
                wav_bytes(clip.samples, clip.sample_rate),
                start_epoch=clip.start,
            )
        except Unreachable as error:
            return AudioAnswer(request_id, "unreachable", detail=str(error))
        if reply.status == 201:
            return final("sent", f"{clip.duration_s:.3f} s from {utc_iso(clip.start)}", clip)
        if reply.status in FINAL_AUDIO_STATUSES:
            return final(f"server-{reply.status}", reply.detail(), clip)
        return AudioAnswer(request_id, f"server-{reply.status}", detail=reply.detail())

    # --- privacy housekeeping -----------------------------------------------------------------

    def purge(self) -> int:
        # Purge as of the next purge: audio that would pass the retention before then goes
        # now, so no sample is ever on disk longer than the retention (72 h at most), not
        # the retention plus up to one purge interval.
        removed = self.buffer.purge(now=self.clock() + self.config.purge_interval_s)
        if removed:
            logger.info(
                "purged %d audio segment(s) older than %.1f h",
                removed,
                self.config.buffer_retention_hours,
            )
        return removed

    # --- main loop ----------------------------------------------------------------------------

    def tick(self) -> None:
        """Run whatever periodic work is due (sending, heartbeat, audio requests, purge)."""
        now = self.clock()
        timers = self.timers
        if now >= timers.next_purge:
            self.purge()
            timers.next_purge = now + self.config.purge_interval_s
        if now >= timers.next_send:
            if len(self.outbox):
                self.send_pending()
            timers.next_send = now + self.config.batch_interval_s
        if now >= timers.next_heartbeat:
            self.heartbeat()
            timers.next_heartbeat = now + self.config.heartbeat_interval_s
        if now >= timers.next_poll:
            self.poll_audio_requests()
            timers.next_poll = now + self.config.audio_poll_interval_s

    def run(self, chunks=None, *, stop: threading.Event, exit_when_done: bool = False) -> None:
        """Read ``chunks`` (an iterator of sources.Chunk) in a thread and tick until ``stop``."""
        done = threading.Event()
        failure: list[BaseException] = []

        def read_input():
            try:
                for chunk in chunks:
                    self.ingest_audio(
                        chunk.samples,
                        sample_rate=chunk.sample_rate,
                        start=chunk.start,
                        full_scale_db_spl=chunk.full_scale_db_spl,
                    )
                    if stop.is_set():
                        break
                self.end_of_input()
            except BaseException as error:  # reported by the main loop
                failure.append(error)
            finally:
                done.set()

        logger.info(
            "sensor %s: server %s, ring buffer %s (%g h), %d pulse(s) queued",
            self.config.serial,
            self.config.server_url,
            self.buffer.directory,
            self.config.buffer_retention_hours,
            len(self.outbox),
        )
        reader = None
        if chunks is not None:
            reader = threading.Thread(target=read_input, name="audio-input", daemon=True)
            reader.start()
        else:
            done.set()
        try:
            while not stop.is_set():
                self.tick()
                if failure:
                    raise failure[0]
                if exit_when_done and done.is_set() and not len(self.outbox):
                    break
                stop.wait(0.2)
        finally:
            stop.set()
            if reader is not None:
                reader.join(timeout=5)
            if len(self.outbox):
                self.send_pending(force=True)
