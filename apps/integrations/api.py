"""The integration read API for dispatch and CAD systems (DRF; views stay thin).

Only an agency's reviewed alerts are exposed (see ``selectors``); another agency's
incident answers exactly like one that does not exist.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.integrations import selectors
from apps.integrations.authentication import (
    ApiTokenAuthentication,
    ApiTokenRateThrottle,
    HasApiToken,
)
from apps.integrations.conf import integration_setting
from apps.integrations.serializers import IncidentQuerySerializer, IncidentSerializer

PROBLEM = OpenApiResponse(description="Problem details (RFC 9457, application/problem+json).")
NOT_FOUND_DETAIL = "No such incident."


class IncidentPagination(PageNumberPagination):
    page_size_query_param = "page_size"

    def get_page_size(self, request):
        self.page_size = integration_setting("INTEGRATION_API_PAGE_SIZE")
        self.max_page_size = integration_setting("INTEGRATION_API_MAX_PAGE_SIZE")
        return super().get_page_size(request)


class IntegrationAPIView(APIView):
    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [HasApiToken]
    throttle_classes = [ApiTokenRateThrottle]


class IncidentListView(IntegrationAPIView, ListAPIView):
    serializer_class = IncidentSerializer
    pagination_class = IncidentPagination

    @extend_schema(
        operation_id="integration_incidents_list",
        summary="The agency's reviewed alerts, newest first (paginated)",
        description=(
            "Only incidents the review center published are listed (status published), or "
            "with status=cancelled those it published and later withdrew. Incidents pending "
            "review or filtered by the machine are never exposed. ``since`` is compared with "
            "the publication time, so a poller passes the time of its previous poll."
        ),
        parameters=[IncidentQuerySerializer],
        responses={
            200: IncidentSerializer(many=True),
            400: PROBLEM,
            401: PROBLEM,
            404: PROBLEM,
            429: PROBLEM,
        },
        tags=["integration"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = IncidentQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        return selectors.integration_incidents(
            agency=self.request.auth.agency,
            status=data.get("status"),
            kind=data.get("type"),
            since=data.get("since"),
        )


class IncidentDetailView(IntegrationAPIView):
    @extend_schema(
        operation_id="integration_incidents_retrieve",
        summary="One reviewed alert of the agency",
        parameters=[
            OpenApiParameter("system_id", str, OpenApiParameter.PATH),
            OpenApiParameter("number", int, OpenApiParameter.PATH),
        ],
        responses={200: IncidentSerializer, 401: PROBLEM, 404: PROBLEM, 429: PROBLEM},
        tags=["integration"],
    )
    def get(self, request, system_id: str, number: int):
        incident = selectors.integration_incident_get(
            agency=request.auth.agency, system_id=system_id, number=number
        )
        if incident is None:
            raise NotFound(NOT_FOUND_DETAIL)
        return Response(IncidentSerializer(incident).data)
