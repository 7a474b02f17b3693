"""The signed sensor API (DRF). Views stay thin: validate, call a service, answer."""

from __future__ import annotations

import logging

import http_sf
from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.parsers import JSONParser
from apps.core.problems import database_unavailable_problem
from apps.incidents import selectors as incident_selectors
from apps.incidents import services as incident_services
from apps.sensors import server_key, services
from apps.sensors.authentication import IsSignedSensor, SensorSignatureAuthentication
from apps.sensors.conf import sensor_setting
from apps.sensors.serializers import (
    AudioRequestListSerializer,
    AudioStoredSerializer,
    HeartbeatResultSerializer,
    HeartbeatSerializer,
    PulseBatchResultSerializer,
    PulseBatchSerializer,
    UtcDateTimeField,
)
from apps.sensors.signing import AUDIO_REQUESTS_CONTEXT, SERVER_SIGNATURE_HEADER
from apps.sensors.throttling import SensorRateThrottle

logger = logging.getLogger("apps.sensors")

PROBLEM = OpenApiResponse(description="Problem details (RFC 9457, application/problem+json).")


class PulseConflict(APIException):
    status_code = 409
    default_detail = "Some pulse uuids are already stored for another sensor."
    default_code = "pulse_uuid_conflict"


class SensorAPIView(APIView):
    authentication_classes = [SensorSignatureAuthentication]
    permission_classes = [IsSignedSensor]
    throttle_classes = [SensorRateThrottle]
    parser_classes = [JSONParser]

    def dispatch(self, request, *args, **kwargs):
        # One transaction per request: the signature's nonce, a refusal's log entry and the
        # request's writes commit together (one commit instead of two per batch). A 202 is
        # sent only after that commit; a server error rolls everything back.
        try:
            with transaction.atomic():
                response = super().dispatch(request, *args, **kwargs)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
        except (OperationalError, InterfaceError) as exc:
            # The database went away before the request began or while it committed.
            return database_unavailable_problem(exc)
        return response


class PulseBatchView(SensorAPIView):
    @extend_schema(
        operation_id="sensor_pulses_create",
        summary="Report a batch of pulses (summary data, never audio)",
        request=PulseBatchSerializer,
        responses={
            202: PulseBatchResultSerializer,
            400: PROBLEM,
            401: PROBLEM,
            403: PROBLEM,
            409: PROBLEM,
            413: PROBLEM,
        },
        tags=["sensor"],
    )
    def post(self, request):
        serializer = PulseBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = services.pulses_ingest(
                sensor=request.sensor, pulses=serializer.pulses_for_ingest()
            )
        except services.PulseOwnershipConflict as exc:
            raise PulseConflict(
                f"Pulse uuid(s) already stored for another sensor: {', '.join(exc.pulse_uuids)}"
            ) from exc
        return Response(
            {"accepted": result.accepted, "duplicates": result.duplicates},
            status=status.HTTP_202_ACCEPTED,
        )


class HeartbeatView(SensorAPIView):
    @extend_schema(
        operation_id="sensor_heartbeat_create",
        summary="Report position fix, clock status and buffer status",
        request=HeartbeatSerializer,
        responses={200: HeartbeatResultSerializer, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM},
        tags=["sensor"],
    )
    def post(self, request):
        serializer = HeartbeatSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        sensor = services.sensor_record_heartbeat(
            sensor=request.sensor,
            position=data.get("position"),
            clock=data.get("clock"),
            buffer=data.get("buffer"),
            firmware=data.get("firmware"),
        )
        return Response(
            {
                "serial": sensor.serial_number,
                "status": sensor.status,
                "server_time_utc": UtcDateTimeField().to_representation(timezone.now()),
                "heartbeat_interval_s": sensor_setting("SENSOR_HEARTBEAT_INTERVAL_S"),
            }
        )


# --- Incident audio: the only way audio ever reaches the server ------------------------------

AUDIO_CONTENT_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")
AUDIO_START_HEADER = "Audio-Start-UTC"


class Problem(APIException):
    """An error answered as problem+json with the given status."""

    def __init__(self, status_code: int, detail: str, code: str = "invalid"):
        super().__init__(detail, code)
        self.status_code = status_code


class WavParser(BaseParser):
    """Declares the upload's media type (the view reads the raw, already verified body)."""

    media_type = "audio/wav"

    def parse(self, stream, media_type=None, parser_context=None):  # pragma: no cover
        return stream.read()


def _signature_input(request) -> tuple[set[str], dict]:
    """Components the (verified) signature covers and its parameters; authentication
    parsed and verified it already."""
    raw = request.headers.get("Signature-Input", "")
    try:
        parsed = http_sf.parse(raw.encode("latin-1"), tltype="dictionary")
        ((_label, (components, params)),) = parsed.items()
        return {str(value).lower() for value, _ in components}, dict(params)
    except (ValueError, TypeError, UnicodeEncodeError):
        return set(), {}


class AudioRequestListView(SensorAPIView):
    @extend_schema(
        operation_id="sensor_audio_requests_list",
        summary=(
            "This sensor's pending audio requests (explosive-like incidents and "
            "investigation requests only)"
        ),
        description=(
            "The answer is signed with the server's Ed25519 key (SERVER_SIGNING_KEY_FILE): "
            f"the {SERVER_SIGNATURE_HEADER} header is `ed25519=:<base64>:`, the signature of "
            f"{AUDIO_REQUESTS_CONTEXT.decode().strip()!r} + newline + the body's exact bytes. "
            "The body names the sensor (serial), echoes the nonce of the poll's own "
            "signature and carries the time it was issued, so an answer cannot be replayed "
            "to another sensor or to a later poll. Sensors upload audio only for answers "
            "that verify (docs/sensor-agent.md). A server without a signing key answers "
            "503 and hands out nothing."
        ),
        parameters=[
            OpenApiParameter(
                SERVER_SIGNATURE_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=[200],
                description="Ed25519 signature of the answer by the server's key.",
            )
        ],
        responses={200: AudioRequestListSerializer, 401: PROBLEM, 403: PROBLEM},
        tags=["sensor"],
    )
    def get(self, request):
        pending = incident_selectors.audio_requests_pending_for_sensor(sensor=request.sensor)
        _covered, params = _signature_input(request)
        nonce = params.get("nonce")
        payload = AudioRequestListSerializer(
            {
                "serial": request.sensor.serial_number,
                "nonce": str(nonce) if nonce else "",
                "issued_at": timezone.now(),
                "requests": list(pending),
            }
        ).data
        try:
            body, signature = server_key.signed_audio_requests_answer(dict(payload))
        except ImproperlyConfigured as error:
            logger.error("audio requests not handed out: %s", error)
            raise Problem(
                503,
                "The server has no signing key, so it cannot hand out audio requests.",
                "server_key_missing",
            ) from None
        return HttpResponse(
            body,
            content_type="application/json",
            headers={SERVER_SIGNATURE_HEADER: signature},
        )


class AudioUploadView(SensorAPIView):
    """PUT one clip for one pending request; the start time is a signed header."""

    parser_classes = [WavParser]

    @extend_schema(
        operation_id="sensor_audio_upload",
        summary="Upload the clip of a pending audio request (16-bit PCM mono WAV)",
        description=(
            "The body is the WAV file (Content-Type audio/wav). The UTC time of its first "
            f"sample is the {AUDIO_START_HEADER} header (ISO-8601, microseconds allowed), "
            "which the request signature must cover. The clip must lie inside the "
            "request's window, at the request's sample rate."
        ),
        request={media_type: OpenApiTypes.BINARY for media_type in AUDIO_CONTENT_TYPES},
        parameters=[
            OpenApiParameter(
                AUDIO_START_HEADER,
                OpenApiTypes.DATETIME,
                OpenApiParameter.HEADER,
                required=True,
                description="UTC time of the first sample; covered by the signature.",
            )
        ],
        responses={
            201: AudioStoredSerializer,
            400: PROBLEM,
            401: PROBLEM,
            403: PROBLEM,
            404: PROBLEM,
            409: PROBLEM,
            410: PROBLEM,
            413: PROBLEM,
            415: PROBLEM,
            422: PROBLEM,
        },
        tags=["sensor"],
    )
    def put(self, request, request_id: int):
        covered, _params = _signature_input(request)
        if AUDIO_START_HEADER.lower() not in covered:
            raise Problem(
                400,
                f"The signature must cover the {AUDIO_START_HEADER} header.",
                "start_not_signed",
            )
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type not in AUDIO_CONTENT_TYPES:
            raise Problem(415, "The body must be an audio/wav file.", "unsupported_media_type")
        try:
            start = UtcDateTimeField().to_internal_value(
                request.headers.get(AUDIO_START_HEADER, "")
            )
        except serializers.ValidationError:
            raise Problem(
                400,
                f"{AUDIO_START_HEADER} must be an ISO-8601 UTC time (e.g. "
                "2026-11-21T06:00:00.250000Z).",
                "bad_start_time",
            ) from None
        try:
            clip = services.audio_upload_store(
                sensor=request.sensor,
                request_id=request_id,
                body=request._request.body,
                start_time=start,
            )
        except incident_services.AudioUploadError as error:
            logger.warning(
                "audio upload refused: sensor=%s request=%s status=%s: %s",
                request.sensor.serial_number,
                request_id,
                error.status,
                error.detail,
            )
            raise Problem(error.status, error.detail, type(error).__name__) from None
        return Response({"status": "stored", "sha256": clip.sha256}, status=status.HTTP_201_CREATED)
