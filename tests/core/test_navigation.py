"""Links between applications: what a user can reach is linked where they work."""

import pytest

from apps.accounts.models import Application, Role
from tests.factories import AgencyFactory, UserFactory, login_as
from tests.portal.support import published_incident

pytestmark = pytest.mark.django_db


def test_agency_pages_link_deliveries_webhooks_and_the_audit_export(client):
    chief = UserFactory(role=Role.AGENCY_SUPER_USER, agency=AgencyFactory())
    login_as(client, chief)
    page = client.get("/agency/audit/?action=auth.login").content.decode()
    assert 'href="/alerts/agency/deliveries/"' in page
    assert 'href="/alerts/agency/webhooks/"' in page
    assert 'href="/privacy/audit.csv?action=auth.login"' in page


@pytest.mark.parametrize("with_investigator, linked", [(True, True), (False, False)])
def test_incident_details_link_the_report_only_for_investigators(client, with_investigator, linked):
    agency = AgencyFactory()
    incident = published_incident(agency)
    applications = [Application.ALERT_CONSOLE]
    if with_investigator:
        applications.append(Application.INVESTIGATOR_PORTAL)
    login_as(client, UserFactory(agency=agency, applications=applications))
    page = client.get(f"/console/incident/{agency.system_id}/{incident.number}")
    assert page.status_code == 200
    report = f"/alerts/report/{agency.system_id}/{incident.number}/"
    assert (report in page.content.decode()) is linked
