"""The integration read API for dispatch and CAD systems (DRF; views stay thin).

Only an agency's reviewed alerts are exposed (see ``selectors``); another agency's
incident answers exactly like one that does not exist. Every successful read is audited
under the token's agency (``services.integration_read_record``: which token, endpoint,
query, how many incidents and which; unchanged answers to a poller are counted, not
repeated).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.integrations import selectors, services
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
    """``page`` and ``page_size`` must be whole numbers from 1 (``page`` may be ``last``):
    anything else is a 400 naming the parameter. DRF answered ``?page=abc`` or ``?page=0``
    with 404 "Invalid page." and replaced a bad ``page_size`` by the default without a
    word. A page past the end stays a 404; a ``page_size`` above the maximum is capped."""

    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        errors = {}
        for name, allowed in (
            (self.page_query_param, self.last_page_strings),
            (self.page_size_query_param, ()),
        ):
            value = request.query_params.get(name)
            if value is None or value in allowed or _positive_whole_number(value):
                continue
            also = f" or {', '.join(repr(word) for word in allowed)}" if allowed else ""
            errors[name] = [f"A whole number from 1{also}; got {value[:40]!r}."]
        if errors:
            raise ValidationError(errors)
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        self.page_size = integration_setting("INTEGRATION_API_PAGE_SIZE")
        self.max_page_size = integration_setting("INTEGRATION_API_MAX_PAGE_SIZE")
        return super().get_page_size(request)


def _positive_whole_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) >= 1


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
        response = super().get(request, *args, **kwargs)
        if response.status_code == 200:
            results = response.data["results"]
            services.integration_read_record(
                token=request.auth,
                action=services.AUDIT_INCIDENTS_LISTED,
                endpoint=request.path,
                query=request.query_params,
                references=[row["id"] for row in results],
                content=results,
                request=request._request,
                extra={"total": response.data["count"]},
            )
        return response

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
        data = IncidentSerializer(incident).data
        services.integration_read_record(
            token=request.auth,
            action=services.AUDIT_INCIDENT_READ,
            endpoint=request.path,
            query=request.query_params,
            references=[data["id"]],
            content=data,
            request=request._request,
        )
        return Response(data)
