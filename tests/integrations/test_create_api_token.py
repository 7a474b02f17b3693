"""``manage.py create_api_token``: prints a working token once; bad input creates nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.integrations.models import ApiToken
from tests.integrations.support import LIST, published

pytestmark = pytest.mark.django_db


def test_prints_a_token_that_works_and_is_audited(client, agency, area):
    incident = published(area=area)
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", agency="312", name="CAD east", stdout=out, stderr=err)
    plaintext = out.getvalue().strip()
    assert plaintext.startswith("sso_")
    assert "cannot be shown again" in err.getvalue()
    token = ApiToken.objects.get()
    assert token.agency == agency and token.name == "CAD east" and token.revoked_at is None
    assert plaintext.split(".", 1)[1] not in token.secret_hash
    response = client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 200
    assert [item["number"] for item in response.json()["results"]] == [incident.number]
    event = AuditEvent.objects.get(action="integrations.api_token_created")
    assert event.agency == agency and event.target_id == str(token.pk)


@pytest.mark.parametrize(
    "agency_id, name, message",
    [
        ("999", "CAD", "No agency with system id"),
        ("312", "", "needs a name"),
        ("312", "   ", "needs a name"),
        ("312", "x" * 101, "at most 100"),
    ],
)
def test_bad_input_fails_and_creates_nothing(agency, agency_id, name, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", agency=agency_id, name=name, stdout=io.StringIO())
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action="integrations.api_token_created").exists()


def test_bad_input_exits_non_zero(agency):
    # manage.py turns a CommandError into sys.exit(error.returncode).
    with pytest.raises(CommandError) as refused:
        call_command("create_api_token", agency="999", name="CAD", stdout=io.StringIO())
    assert refused.value.returncode != 0
    assert not ApiToken.objects.exists()
