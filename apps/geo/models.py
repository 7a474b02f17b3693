"""Coverage areas, districts, beats and address points of an agency.

Polygons are GeoJSON (lon, lat) rings stored as JSON so the embedded SQLite mode and
PostgreSQL behave the same; point-in-polygon runs in ``apps.geo.polygons``.
"""

from __future__ import annotations

from django.db import models


class CoverageArea(models.Model):
    agency = models.ForeignKey(
        "accounts.Agency", on_delete=models.CASCADE, related_name="coverage_areas"
    )
    name = models.CharField(max_length=200)
    # GeoJSON Polygon or MultiPolygon geometry (coordinates in lon, lat).
    boundary = models.JSONField()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "name"], name="unique_coverage_area_name")
        ]

    def __str__(self) -> str:
        return self.name


class District(models.Model):
    agency = models.ForeignKey(
        "accounts.Agency", on_delete=models.CASCADE, related_name="districts"
    )
    name = models.CharField(max_length=100)
    boundary = models.JSONField()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "name"], name="unique_district_name")
        ]

    def __str__(self) -> str:
        return self.name


class Beat(models.Model):
    agency = models.ForeignKey("accounts.Agency", on_delete=models.CASCADE, related_name="beats")
    district = models.ForeignKey(
        District, null=True, blank=True, on_delete=models.SET_NULL, related_name="beats"
    )
    name = models.CharField(max_length=100)
    boundary = models.JSONField()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["agency", "name"], name="unique_beat_name")]

    def __str__(self) -> str:
        return self.name


class AddressPoint(models.Model):
    agency = models.ForeignKey(
        "accounts.Agency", on_delete=models.CASCADE, related_name="address_points"
    )
    label = models.CharField(max_length=200, help_text="e.g. '1200 block of W Main St'")
    latitude = models.FloatField()
    longitude = models.FloatField()

    class Meta:
        ordering = ["label"]
        indexes = [models.Index(fields=["agency", "latitude", "longitude"])]

    def __str__(self) -> str:
        return self.label
