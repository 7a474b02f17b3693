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


ALL_APPLICATIONS = [
    Application.ALERT_CONSOLE,
    Application.INVESTIGATOR_PORTAL,
    Application.BRIEFING_ROOM,
    Application.SIREN,
]
NAV_LINKS = {
    "/console/": "Alert Console",
    "/investigator/": "Investigator Portal",
    "/investigations/": "Investigation requests",
    "/briefing-room/": "Briefing Room",
    "/siren/": "Siren",
}


def _top_bar(page) -> str:
    html = page.content.decode()
    return html[html.index('<nav class="topnav">') : html.index("</nav>")]


@pytest.mark.parametrize(
    "path", ["/console/", "/investigator/", "/investigations/", "/briefing-room/", "/siren/"]
)
def test_every_agency_application_links_all_the_granted_ones(client, path):
    """Release 2014.2: a user granted several applications switches between them from any
    of them (the portal's bar left out the Briefing Room; the Briefing Room's and the
    investigation requests' bars left out the others)."""
    agency = AgencyFactory()
    login_as(client, UserFactory(agency=agency, applications=ALL_APPLICATIONS))
    page = client.get(path)
    assert page.status_code == 200
    bar = _top_bar(page)
    for href, label in NAV_LINKS.items():
        assert f'href="{href}"' in bar and label in bar, (path, label)
    assert bar.count('aria-current="page"') == 1


def test_the_top_bar_links_only_granted_applications(client):
    agency = AgencyFactory()
    login_as(
        client,
        UserFactory(agency=agency, applications=[Application.SIREN, Application.BRIEFING_ROOM]),
    )
    bar = _top_bar(client.get("/siren/"))
    assert 'href="/briefing-room/"' in bar and 'href="/siren/"' in bar
    for href in ("/console/", "/investigator/", "/investigations/"):
        assert f'href="{href}"' not in bar
