"""Changes made in the platform admin land in the append-only audit trail, under the
agency they concern (they used to be only in Django's own admin history, which the
agency never sees and which is not append-only)."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from apps.accounts.models import Application, LoginThrottle, Role
from apps.audit.models import AuditEvent
from tests.factories import AgencyFactory, UserFactory, login_as, login_verified

pytestmark = pytest.mark.django_db


class _FormValues(HTMLParser):
    """The values a browser would submit from the admin's change form."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None

    def _add(self, name, value):
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form or not a.get("name"):
            if tag == "option" and self._select and "selected" in a:
                self._add(self._select, a.get("value", ""))
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(a["name"], a.get("value", "on"))
            elif kind not in ("submit", "button", "file"):
                self._add(a["name"], a.get("value", ""))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "textarea":
            self._textarea = a["name"]
            self._add(a["name"], "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._in_form = False

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][-1] += data


def change_form(client, url: str) -> dict[str, list[str]]:
    page = client.get(url)
    assert page.status_code == 200
    parser = _FormValues()
    parser.feed(page.content.decode())
    return parser.data


@pytest.fixture
def admin_client(client):
    login_verified(client, UserFactory(platform_admin=True, is_superuser=True, agency=None))
    return client


def test_user_role_and_application_changes_are_audited_for_the_agency(admin_client):
    agency = AgencyFactory()
    officer = UserFactory(
        agency=agency, applications=[Application.ALERT_CONSOLE, Application.SIREN]
    )
    url = f"/platform-admin/accounts/user/{officer.pk}/change/"
    data = change_form(admin_client, url)
    data["role"] = [Role.AGENCY_SUPER_USER]
    grants = {v[0]: k for k, v in data.items() if k.endswith("-application") and v}
    siren_row = grants[Application.SIREN].rsplit("-", 1)[0]
    data[f"{siren_row}-DELETE"] = ["on"]
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]

    event = AuditEvent.objects.get(action="platform_admin.user.change")
    assert event.agency == agency and event.target_id == str(officer.pk)
    assert event.details["changed"]["role"] == {
        "before": Role.POLICE_USER,
        "after": Role.AGENCY_SUPER_USER,
    }
    grants_change = event.details["changed"]["application grants"]
    assert len(grants_change["before"]) == 2 and len(grants_change["after"]) == 1

    # The agency's own audit log shows it.
    chief = UserFactory(role=Role.AGENCY_SUPER_USER, agency=agency)
    login_as(admin_client, chief)
    page = admin_client.get("/agency/audit/").content.decode()
    assert "platform_admin.user.change" in page


def test_saving_without_a_change_records_nothing(admin_client):
    officer = UserFactory(agency=AgencyFactory())
    url = f"/platform-admin/accounts/user/{officer.pk}/change/"
    assert admin_client.post(url, change_form(admin_client, url)).status_code == 302
    assert not AuditEvent.objects.filter(action__startswith="platform_admin.").exists()


def test_agency_two_factor_rule_change_is_audited(admin_client):
    agency = AgencyFactory(require_two_factor_for_police=False)
    url = f"/platform-admin/accounts/agency/{agency.pk}/change/"
    data = change_form(admin_client, url)
    data["require_two_factor_for_police"] = ["on"]
    assert admin_client.post(url, data).status_code == 302
    event = AuditEvent.objects.get(action="platform_admin.agency.change")
    assert event.agency == agency
    assert event.details["changed"] == {
        "require_two_factor_for_police": {"before": False, "after": True}
    }


def test_deleting_a_lockout_counter_is_audited_for_the_account_agency(admin_client):
    agency = AgencyFactory()
    officer = UserFactory(agency=agency)
    row = LoginThrottle.objects.create(
        scope=LoginThrottle.Scope.ACCOUNT,
        key=officer.email,
        failures=5,
        window_started_at=timezone.now(),
        locked_until=timezone.now() + timedelta(minutes=15),
    )
    response = admin_client.post(
        "/platform-admin/accounts/loginthrottle/",
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not LoginThrottle.objects.exists()
    event = AuditEvent.objects.get(action="platform_admin.loginthrottle.delete")
    assert event.agency == agency and event.details["before"]["key"] == officer.email
