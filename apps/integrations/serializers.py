"""Output (and query) shapes of the integration read API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.alerts.models import IncidentType
from apps.alerts.selectors import incident_rounds, incident_type
from apps.incidents.models import Incident
from apps.integrations.selectors import EXPOSED_STATUSES, exposed_status


class IncidentQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False,
        help_text="ISO-8601; only incidents published at or after this time.",
    )
    status = serializers.ChoiceField(
        choices=EXPOSED_STATUSES,
        required=False,
        help_text="published (default) or cancelled (published, then withdrawn by review).",
    )
    type = serializers.ChoiceField(choices=IncidentType.values, required=False)


class EllipseSerializer(serializers.Serializer):
    semi_major_m = serializers.FloatField(source="ellipse_major_m")
    semi_minor_m = serializers.FloatField(source="ellipse_minor_m")
    azimuth_deg = serializers.FloatField(
        source="ellipse_azimuth_deg", help_text="Major axis, degrees from north [0, 180)."
    )


class LocationSerializer(serializers.Serializer):
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    ellipse = EllipseSerializer(source="*", help_text="95% confidence ellipse.")


class IncidentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="reference", help_text="<system_id>-<number>")
    system_id = serializers.CharField(source="agency.system_id")
    status = serializers.SerializerMethodField()
    type = serializers.SerializerMethodField()
    rounds = serializers.SerializerMethodField()
    location = LocationSerializer(source="*")
    beat = serializers.CharField(source="beat.name", default=None, allow_null=True)
    district = serializers.CharField(source="district.name", default=None, allow_null=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "system_id",
            "number",
            "status",
            "type",
            "rounds",
            "location",
            "nearest_address",
            "beat",
            "district",
            "first_shot_at",
            "last_shot_at",
            "detected_at",
            "located_at",
            "published_at",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=EXPOSED_STATUSES))
    def get_status(self, incident: Incident) -> str:
        return exposed_status(incident)

    @extend_schema_field(serializers.ChoiceField(choices=IncidentType.values))
    def get_type(self, incident: Incident) -> str:
        return incident_type(incident)

    @extend_schema_field(serializers.IntegerField())
    def get_rounds(self, incident: Incident) -> int:
        return incident_rounds(incident)
