"""The reference sensor agent: the sensor's own software (no Django).

Run it with ``python -m apps.sensor_agent --config FILE``. It reads audio (WAV files or a
sound device), keeps it in an on-disk ring buffer that is purged after at most 72 hours,
detects impulsive pulses (TN 098 step kernel), and sends only their summary data to the
server in signed batches through an on-disk outbox (store-and-forward). Audio leaves the
sensor only as the answer to an audio request from the server, and only inside the
requested window. There is no code path that streams audio. See docs/sensor-agent.md.
"""

MAX_RETENTION_HOURS = 72.0
FIRMWARE = "open-agent/1.0"
