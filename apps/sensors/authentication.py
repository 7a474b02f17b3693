"""DRF authentication for the sensor API: a valid RFC 9421 signature by a registered sensor."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from apps.audit.services import client_ip
from apps.sensors import services
from apps.sensors.models import Sensor
from apps.sensors.signatures import SignatureRefused, verify_sensor_request


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class SensorPrincipal:
    """What ``request.user`` is for a signed sensor request."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, sensor: Sensor):
        self.sensor = sensor

    def __str__(self) -> str:
        return f"sensor {self.sensor.serial_number}"


class SensorSignatureAuthentication(BaseAuthentication):
    """Sets ``request.sensor``; refusals are logged and answered 401, 403 or 413."""

    def authenticate(self, request):
        django_request = request._request
        try:
            sensor = verify_sensor_request(request=django_request)
        except SignatureRefused as refusal:
            services.refused_request_record(
                reason=refusal.reason,
                status_code=refusal.status_code,
                method=django_request.method or "",
                path=django_request.path,
                ip_address=client_ip(django_request),
                key_id=refusal.key_id,
                sensor=refusal.sensor,
                detail=refusal.detail,
            )
            if refusal.status_code == 403:
                raise exceptions.PermissionDenied(refusal.detail) from None
            if refusal.status_code == 413:
                raise PayloadTooLarge(refusal.detail) from None
            raise exceptions.AuthenticationFailed(refusal.detail) from None
        request.sensor = sensor
        django_request.sensor = sensor
        return SensorPrincipal(sensor), sensor

    def authenticate_header(self, request) -> str:
        return 'Signature realm="sensor-api"'


class IsSignedSensor(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Sensor)
