"""Who reaches what: every role over the application pages, /agency/ and /platform-admin/."""

from __future__ import annotations

import html

import pytest
from django.http import HttpResponse
from django.test import Client
from django.views import View

from apps.accounts.access import ApplicationRequiredMixin
from apps.accounts.models import Application, ApplicationGrant, Role
from tests.factories import UserFactory, login_as, login_verified

pytestmark = pytest.mark.django_db

APP_PAGES = {
    "/console/": Application.ALERT_CONSOLE,
    "/investigator/": Application.INVESTIGATOR_PORTAL,
    "/briefing-room/": Application.BRIEFING_ROOM,
    "/siren/": Application.SIREN,
}
AGENCY_PAGE = "/agency/users/"
ADMIN_PAGE = "/platform-admin/"
ALL = list(Application)


def text(response) -> str:
    return html.unescape(response.content.decode())


def make(kind: str):
    if kind == "police, no grants":
        return UserFactory()
    if kind == "police, console + siren":
        return UserFactory(applications=[Application.ALERT_CONSOLE, Application.SIREN])
    if kind == "police with is_superuser set":
        return UserFactory(is_superuser=True)
    if kind == "agency super user, all grants":
        return UserFactory(role=Role.AGENCY_SUPER_USER, applications=ALL)
    if kind == "IRC reviewer (even with grant rows)":
        user = UserFactory(role=Role.IRC_REVIEWER)
    elif kind == "platform admin (even with grant rows)":
        user = UserFactory(role=Role.PLATFORM_ADMIN)
    else:
        raise AssertionError(kind)
    for app in ALL:  # rows that should never exist; access must still be refused
        ApplicationGrant.objects.create(user=user, application=app)
    return user


# Expected status per page; 200 = the page, 403 = the clear "no access" page.
MATRIX = {
    "police, no grants": {
        "/console/": 403,
        "/investigator/": 403,
        "/briefing-room/": 403,
        "/siren/": 403,
        AGENCY_PAGE: 403,
        ADMIN_PAGE: 403,
    },
    "police, console + siren": {
        "/console/": 200,
        "/investigator/": 403,
        "/briefing-room/": 403,
        "/siren/": 200,
        AGENCY_PAGE: 403,
        ADMIN_PAGE: 403,
    },
    "police with is_superuser set": {
        "/console/": 403,
        "/investigator/": 403,
        "/briefing-room/": 403,
        "/siren/": 403,
        AGENCY_PAGE: 403,
        ADMIN_PAGE: 403,
    },
    "agency super user, all grants": {
        "/console/": 200,
        "/investigator/": 200,
        "/briefing-room/": 200,
        "/siren/": 200,
        AGENCY_PAGE: 200,
        ADMIN_PAGE: 403,
    },
    "IRC reviewer (even with grant rows)": {
        "/console/": 403,
        "/investigator/": 403,
        "/briefing-room/": 403,
        "/siren/": 403,
        AGENCY_PAGE: 403,
        ADMIN_PAGE: 403,
    },
    "platform admin (even with grant rows)": {
        "/console/": 403,
        "/investigator/": 403,
        "/briefing-room/": 403,
        "/siren/": 403,
        AGENCY_PAGE: 403,
        ADMIN_PAGE: 200,
    },
}


@pytest.mark.parametrize("kind", MATRIX.keys())
def test_access_matrix(client, kind):
    user = make(kind)
    login_as(client, user)
    got = {path: client.get(path).status_code for path in MATRIX[kind]}
    assert got == MATRIX[kind]


@pytest.mark.parametrize(
    "path", [*APP_PAGES, AGENCY_PAGE, ADMIN_PAGE, "/", "/accounts/my-account/"]
)
def test_anonymous_visitors_are_sent_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_admin_login_form_is_never_used(client):
    response = client.get("/platform-admin/login/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_no_access_page_is_friendly_and_names_the_application(client):
    user = UserFactory(applications=[Application.SIREN])
    client.force_login(user)
    for path, application in APP_PAGES.items():
        if application == Application.SIREN:
            continue
        response = client.get(path)
        assert response.status_code == 403
        body = text(response)
        expected = (
            f"You don't have access to the {application.label}. Ask your agency's super user."
        )
        assert expected in body
        assert "Traceback" not in body and "Forbidden" not in body


def test_staff_get_a_staff_specific_message(client):
    login_as(client, make("IRC reviewer (even with grant rows)"))
    body = text(client.get("/console/"))
    assert "You don't have access to the Alert Console." in body
    assert "Review-center staff do not use the agency applications." in body


def test_application_page_names_the_application_and_the_agency(client):
    user = UserFactory(applications=[Application.BRIEFING_ROOM])
    client.force_login(user)
    body = text(client.get("/briefing-room/"))
    assert "Briefing Room" in body and user.agency.name in body


def test_home_links_only_to_granted_applications(client):
    user = UserFactory(applications=[Application.INVESTIGATOR_PORTAL, Application.SIREN])
    client.force_login(user)
    body = text(client.get("/"))
    assert 'href="/investigator/"' in body and 'href="/siren/"' in body
    assert 'href="/console/"' not in body and 'href="/briefing-room/"' not in body
    assert "Alert Console" in body and "no access" in body
    assert 'href="/agency/' not in body and 'href="/platform-admin/' not in body


def test_home_of_an_agency_super_user_links_to_agency_administration(client):
    login_as(client, UserFactory(role=Role.AGENCY_SUPER_USER))
    assert 'href="/agency/users/"' in text(client.get("/"))


def test_deactivated_user_loses_access_on_the_next_request(client):
    user = UserFactory(applications=[Application.SIREN])
    client.force_login(user)
    assert client.get("/siren/").status_code == 200
    user.is_active = False
    user.save()
    assert client.get("/siren/").status_code == 302  # session no longer accepted


def test_revoked_grant_takes_effect_immediately(client):
    user = UserFactory(applications=[Application.SIREN])
    client.force_login(user)
    assert client.get("/siren/").status_code == 200
    ApplicationGrant.objects.filter(user=user).delete()
    assert client.get("/siren/").status_code == 403


def test_platform_admin_needs_the_second_factor_for_the_admin(client):
    admin = UserFactory(role=Role.PLATFORM_ADMIN)
    client.force_login(admin)  # password only, no device yet
    response = client.get(ADMIN_PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/two-factor/setup/")

    other = Client()
    login_verified(other, admin)
    assert other.get(ADMIN_PAGE).status_code == 200
    third = Client()
    third.force_login(admin)  # has a device now, but this session is not verified
    assert third.get(ADMIN_PAGE)["Location"].startswith("/accounts/two-factor/?next=")


def test_agency_super_user_cannot_use_the_admin_even_as_superuser(client):
    boss = UserFactory(role=Role.AGENCY_SUPER_USER, is_superuser=True)
    login_verified(client, boss)
    response = client.get("/platform-admin/accounts/user/")
    assert response.status_code == 403
    assert "only for platform administrators" in text(response)


class _SirenView(ApplicationRequiredMixin, View):
    application = Application.SIREN

    def get(self, request):
        return HttpResponse("siren ok")


def test_class_based_mixin_guards_the_same_way(rf):
    view = _SirenView.as_view()
    granted = UserFactory(applications=[Application.SIREN])
    denied = UserFactory()
    for user, status in ((granted, 200), (denied, 403)):
        request = rf.get("/x/")
        request.user = user
        request.session = {}
        assert view(request).status_code == status
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/x/")
    request.user = AnonymousUser()
    response = view(request)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_django_permissions_follow_the_role_not_is_superuser():
    police = UserFactory(is_superuser=True)
    boss = UserFactory(role=Role.AGENCY_SUPER_USER, is_superuser=True)
    admin_user = UserFactory(role=Role.PLATFORM_ADMIN)
    for customer in (police, boss):
        assert not customer.has_perm("accounts.change_user")
        assert not customer.has_module_perms("accounts")
        assert not customer.is_staff
    assert admin_user.has_perm("accounts.change_user") and admin_user.has_module_perms("audit")
    admin_user.is_active = False
    assert not admin_user.has_perm("accounts.change_user")


def test_verified_platform_admin_can_use_the_account_admin(client):
    login_verified(client, UserFactory(role=Role.PLATFORM_ADMIN))
    for path in (
        "/platform-admin/accounts/user/",
        "/platform-admin/accounts/agency/",
        "/platform-admin/accounts/loginthrottle/",
    ):
        assert client.get(path).status_code == 200, path


def test_my_account_lists_the_users_applications(client):
    user = UserFactory(applications=[Application.SIREN, Application.ALERT_CONSOLE])
    client.force_login(user)
    body = text(client.get("/accounts/my-account/"))
    assert "Alert Console, Siren" in body and user.agency.name in body
    assert 'href="/accounts/my-account/password/"' in body
