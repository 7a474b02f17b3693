"""Integration read API: bearer tokens, agency isolation, reviewed alerts only, filters."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from django.utils import timezone

from apps.incidents.models import IncidentStatus
from apps.integrations.models import ApiToken
from apps.integrations.services import api_token_create, api_token_revoke
from tests.integrations.support import LIST, detail_url, published
from tests.review.support import make_incident

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def _ids(response) -> list[str]:
    return [item["id"] for item in response.json()["results"]]


def test_valid_token_reads_a_published_incident_with_everything_dispatch_needs(api, area):
    incident = published(area=area, decision="multiple_gunshots", rounds=4)
    response = api(detail_url("312", incident.number))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == f"312-{incident.number}"
    assert body["status"] == "published"
    assert body["type"] == "multiple_gunshots"
    assert body["rounds"] == 4
    assert body["location"]["latitude"] == pytest.approx(incident.latitude)
    assert body["location"]["longitude"] == pytest.approx(incident.longitude)
    assert body["location"]["ellipse"] == {
        "semi_major_m": 12.0,
        "semi_minor_m": 8.0,
        "azimuth_deg": 30.0,
    }
    assert body["nearest_address"] == "100 Main St"
    assert body["beat"] == "Beat 712" and body["district"] == "District 7"
    for field in ("detected_at", "located_at", "published_at", "first_shot_at"):
        assert body[field], field
    assert dt.datetime.fromisoformat(body["published_at"]) == incident.published_at


def test_last_used_is_recorded(api, token, area):
    assert token.token.last_used_at is None
    assert api(LIST).status_code == 200
    token.token.refresh_from_db()
    assert token.token.last_used_at is not None


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer sso_0123456789ab.wrongsecret",
        "Bearer not-a-token",
        "Bearer a b",
        "Token whatever",
    ],
)
def test_missing_or_wrong_token_is_401_problem(client, token, area, header):
    published(area=area)
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get(LIST, **extra)
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "results" not in response.json()


def test_right_prefix_wrong_secret_is_refused(client, token):
    forged = token.plaintext[:-4] + ("AAAA" if not token.plaintext.endswith("AAAA") else "BBBB")
    response = client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401
    assert response.json()["detail"] == "The API token is not valid."


def test_revoked_token_is_refused(api, token, area):
    published(area=area)
    assert api(LIST).status_code == 200
    api_token_revoke(token=token.token)
    response = api(LIST)
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["detail"] == "The API token was revoked."


def test_only_a_hash_is_stored(token):
    stored = ApiToken.objects.get(pk=token.token.pk)
    secret = token.plaintext.split(".", 1)[1]
    values = [str(getattr(stored, f.attname)) for f in ApiToken._meta.concrete_fields]
    assert not any(secret in value for value in values)
    assert len(stored.secret_hash) == 64


def test_another_agencys_incident_is_404_like_a_missing_one(api, area, other_area):
    mine = published(area=area)
    theirs = published(area=other_area)
    foreign = api(detail_url("415", theirs.number))
    missing = api(detail_url("312", mine.number + 100))
    wrong_agency_path = api(detail_url("415", mine.number))
    assert foreign.status_code == missing.status_code == wrong_agency_path.status_code == 404
    assert foreign.json() == missing.json() == wrong_agency_path.json()
    assert foreign["Content-Type"] == PROBLEM
    assert _ids(api(LIST)) == [f"312-{mine.number}"]


def test_pending_and_filtered_incidents_are_never_exposed(api, area):
    shown = published(area=area)
    pending = make_incident(area=area, status=IncidentStatus.PENDING_REVIEW)
    filtered = make_incident(area=area, status=IncidentStatus.FILTERED)
    dismissed_unpublished = make_incident(area=area, status=IncidentStatus.DISMISSED)
    for status in (None, "published", "cancelled"):
        params = {"status": status} if status else {}
        listed = _ids(api(LIST, **params))
        for hidden in (pending, filtered, dismissed_unpublished):
            assert f"312-{hidden.number}" not in listed
    assert _ids(api(LIST)) == [f"312-{shown.number}"]
    for hidden in (pending, filtered, dismissed_unpublished):
        assert api(detail_url("312", hidden.number)).status_code == 404


def test_cancelled_alerts_are_listed_only_on_request_and_readable(api, area):
    live = published(area=area)
    withdrawn = published(area=area, cancelled=True)
    assert _ids(api(LIST)) == [f"312-{live.number}"]
    assert _ids(api(LIST, status="cancelled")) == [f"312-{withdrawn.number}"]
    body = api(detail_url("312", withdrawn.number)).json()
    assert body["status"] == "cancelled"


def test_pagination_newest_first(api, area):
    now = timezone.now()
    incidents = [
        published(area=area, detected_at=now - dt.timedelta(minutes=10 - k)) for k in range(5)
    ]
    newest_first = [f"312-{i.number}" for i in reversed(incidents)]
    first = api(LIST, page_size=2)
    body = first.json()
    assert body["count"] == 5
    assert _ids(first) == newest_first[:2]
    assert body["next"] and body["previous"] is None
    second = api(LIST, page_size=2, page=2)
    third = api(LIST, page_size=2, page=3)
    assert _ids(second) == newest_first[2:4]
    assert _ids(third) == newest_first[4:]
    assert third.json()["next"] is None
    beyond = api(LIST, page_size=2, page=9)
    assert beyond.status_code == 404 and beyond["Content-Type"] == PROBLEM


@pytest.mark.parametrize(
    "params,name",
    [
        ({"page": "abc"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page_size": "-1"}, "page_size"),
        ({"page_size": "abc"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_a_malformed_page_or_page_size_is_a_400_naming_the_parameter(api, area, params, name):
    """``?page=abc`` and ``?page=0`` were 404 "Invalid page." (as if the agency had no such
    page of alerts) and a bad ``page_size`` was silently replaced by the default."""
    published(area=area)
    response = api(LIST, **params)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == 400 and name in body["errors"]
    assert name in body["detail"]


def test_the_last_page_and_a_page_size_above_the_maximum_still_work(api, area, settings):
    settings.INTEGRATION_API_MAX_PAGE_SIZE = 3
    for _ in range(4):
        published(area=area)
    assert len(api(LIST, page_size=50).json()["results"]) == 3  # capped, as documented
    assert len(api(LIST, page_size=3, page="last").json()["results"]) == 1


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_url_is_a_problem_404_even_under_debug(client, settings, debug):
    """Under DEBUG Django answered an unknown /api/v1/... URL with its HTML 404 page."""
    settings.DEBUG = debug
    for path in ("/api/v1/nothing-here/", "/api/v1/incidents/312/x/y/", "/api/nope"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == PROBLEM, path
        assert response.json()["status"] == 404
    # Pages outside the API keep their HTML 404; a missing slash is still redirected.
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")
    assert client.get("/api/v1/incidents")["Location"] == "/api/v1/incidents/"


def test_since_filters_on_publication_time(api, area):
    now = timezone.now()
    old = published(area=area, published_at=now - dt.timedelta(hours=2))
    new = published(area=area, published_at=now - dt.timedelta(minutes=5))
    since = (now - dt.timedelta(hours=1)).isoformat()
    assert _ids(api(LIST, since=since)) == [f"312-{new.number}"]
    assert set(_ids(api(LIST))) == {f"312-{old.number}", f"312-{new.number}"}


def test_type_filter(api, area):
    single = published(area=area, decision="single_gunshot")
    multiple = published(area=area, decision="multiple_gunshots", rounds=3)
    possible = published(area=area, decision="possible_gunfire", rounds=2)
    assert _ids(api(LIST, type="single_gunshot")) == [f"312-{single.number}"]
    assert _ids(api(LIST, type="multiple_gunshots")) == [f"312-{multiple.number}"]
    assert _ids(api(LIST, type="possible_gunfire")) == [f"312-{possible.number}"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"since": "yesterday"}, "since"),
        ({"status": "pending_review"}, "status"),
        ({"status": "filtered"}, "status"),
        ({"type": "fireworks"}, "type"),
    ],
)
def test_bad_filters_are_400_problem(api, area, params, field):
    response = api(LIST, **params)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"]


def test_token_use_is_rate_limited(api, settings, area):
    settings.INTEGRATION_API_RATE_LIMIT = 3
    settings.INTEGRATION_API_RATE_WINDOW_S = 3600
    assert [api(LIST).status_code for _ in range(3)] == [200, 200, 200]
    refused = api(LIST)
    assert refused.status_code == 429
    assert refused["Content-Type"] == PROBLEM
    assert int(refused["Retry-After"]) >= 1


def test_rate_limit_is_per_token(client, api, agency, settings, area):
    settings.INTEGRATION_API_RATE_LIMIT = 1
    settings.INTEGRATION_API_RATE_WINDOW_S = 3600
    assert api(LIST).status_code == 200
    assert api(LIST).status_code == 429
    second = api_token_create(agency=agency, name="CAD west")
    response = client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {second.plaintext}")
    assert response.status_code == 200


def test_sensor_signature_or_session_does_not_open_the_integration_api(client, area):
    from tests.factories import UserFactory

    user = UserFactory(agency=area.agency)
    client.force_login(user)
    response = client.get(LIST)
    assert response.status_code == 401


def test_schema_documents_the_endpoints_and_bearer_scheme(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    listing = schema["paths"]["/api/v1/incidents/"]["get"]
    detail = schema["paths"]["/api/v1/incidents/{system_id}/{number}"]["get"]
    assert listing["security"] == detail["security"] == [{"ApiToken": []}]
    names = {p["name"] for p in listing["parameters"]}
    assert {"since", "status", "type", "page", "page_size"} <= names
    assert {"200", "401", "429"} <= set(listing["responses"]) and "404" in detail["responses"]
    scheme = schema["components"]["securitySchemes"]["ApiToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    incident = schema["components"]["schemas"]["Incident"]["properties"]
    assert {"location", "nearest_address", "beat", "district", "type", "rounds", "status"} <= set(
        incident
    )
    assert {"detected_at", "located_at", "published_at"} <= set(incident)
