"""The signed sensor API (DRF). Views stay thin: validate, call a service, answer."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.sensors import services
from apps.sensors.authentication import IsSignedSensor, SensorSignatureAuthentication
from apps.sensors.conf import sensor_setting
from apps.sensors.serializers import (
    HeartbeatResultSerializer,
    HeartbeatSerializer,
    PulseBatchResultSerializer,
    PulseBatchSerializer,
    UtcDateTimeField,
)

PROBLEM = OpenApiResponse(description="Problem details (RFC 9457, application/problem+json).")


class PulseConflict(APIException):
    status_code = 409
    default_detail = "Some pulse uuids are already stored for another sensor."
    default_code = "pulse_uuid_conflict"


class SensorAPIView(APIView):
    authentication_classes = [SensorSignatureAuthentication]
    permission_classes = [IsSignedSensor]
    parser_classes = [JSONParser]


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
