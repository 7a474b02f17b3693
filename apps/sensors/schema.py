"""OpenAPI description of the sensor signature scheme (drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension

from apps.sensors.conf import sensor_setting


class SensorSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "apps.sensors.authentication.SensorSignatureAuthentication"
    name = "SensorSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Signature",
            "description": (
                "RFC 9421 HTTP Message Signature with the sensor's Ed25519 key: keyid = serial "
                "number; covers @method, @target-uri, content-digest (RFC 9530, sha-256) and "
                "content-type; parameters created (at most 30 s old) and a single-use nonce. "
                "Sent with the Signature-Input and Content-Digest headers."
            ),
        }


class PulseBatchSchema(OpenApiSerializerExtension):
    """The batch's size limits as configured (SENSOR_PULSE_BATCH_MAX), so clients and
    fuzzers see them; a larger batch is refused with 413 before it is validated."""

    target_class = "apps.sensors.serializers.PulseBatchSerializer"

    def map_serializer(self, auto_schema, direction):
        schema = super().map_serializer(auto_schema, direction)
        pulses = schema["properties"]["pulses"]
        pulses["minItems"] = 1
        pulses["maxItems"] = sensor_setting("SENSOR_PULSE_BATCH_MAX")
        return schema
