"""Agency user management: only an agency's own super user, only its own accounts, audited."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from apps.accounts import services
from apps.accounts.models import Application, ApplicationGrant, Role, User
from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from tests.factories import AgencyFactory, UserFactory, login_verified

pytestmark = pytest.mark.django_db

ALL_APPS = [a.value for a in Application]
UA = "AgencyAdminTest/1.0"


@pytest.fixture
def agency():
    return AgencyFactory(system_id="42", name="Riverside Police Department")


@pytest.fixture
def other_agency():
    return AgencyFactory(system_id="77", name="Lakeside Police Department")


@pytest.fixture
def boss(agency):
    return UserFactory(
        email="chief@riverside.example", super_user=True, agency=agency, applications=ALL_APPS
    )


@pytest.fixture
def officer(agency):
    return UserFactory(
        email="officer@riverside.example",
        agency=agency,
        full_name="Pat Officer",
        applications=[Application.ALERT_CONSOLE],
    )


@pytest.fixture
def foreign_officer(other_agency):
    return UserFactory(
        email="officer@lakeside.example",
        agency=other_agency,
        applications=[Application.ALERT_CONSOLE],
    )


@pytest.fixture
def boss_client(boss):
    client = Client(HTTP_USER_AGENT=UA, REMOTE_ADDR="203.0.113.9")
    login_verified(client, boss)
    return client


def user_urls(pk: int) -> list[tuple[str, str]]:
    """(method, url) of every per-user page."""
    return [
        ("get", reverse("agency_admin:user_detail", args=[pk])),
        ("post", reverse("agency_admin:user_detail", args=[pk])),
        ("post", reverse("agency_admin:user_applications", args=[pk])),
        ("post", reverse("agency_admin:user_deactivate", args=[pk])),
        ("post", reverse("agency_admin:user_reactivate", args=[pk])),
        ("post", reverse("agency_admin:user_password_reset", args=[pk])),
        ("get", reverse("agency_admin:user_delete", args=[pk])),
        ("post", reverse("agency_admin:user_delete", args=[pk])),
    ]


def state(user: User) -> tuple:
    fresh = User.objects.get(pk=user.pk)
    grants = sorted(fresh.application_grants.values_list("application", flat=True))
    return (fresh.email, fresh.full_name, fresh.role, fresh.is_active, fresh.agency_id, grants)


# --- Who may open the pages -------------------------------------------------------------------


def test_logged_out_visitors_are_sent_to_login(client, officer):
    for url in [
        reverse("agency_admin:index"),
        reverse("agency_admin:users"),
        reverse("agency_admin:user_add"),
        reverse("agency_admin:audit"),
        reverse("agency_admin:user_detail", args=[officer.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize(
    "traits",
    [
        {"role": Role.POLICE_USER},
        {"irc_reviewer": True},
        {"platform_admin": True},
    ],
)
def test_other_roles_get_403_everywhere(traits, agency, officer):
    if traits.get("role") == Role.POLICE_USER:
        user = UserFactory(agency=agency, applications=ALL_APPS)
    else:
        user = UserFactory(**traits)
    client = Client()
    login_verified(client, user)
    before = state(officer)
    urls = [
        ("get", reverse("agency_admin:index")),
        ("get", reverse("agency_admin:users")),
        ("get", reverse("agency_admin:user_add")),
        ("post", reverse("agency_admin:user_add")),
        ("get", reverse("agency_admin:audit")),
        *user_urls(officer.pk),
    ]
    for method, url in urls:
        response = getattr(client, method)(url, {"role": Role.AGENCY_SUPER_USER})
        assert response.status_code == 403, (method, url)
    assert state(officer) == before
    assert AuditEvent.objects.count() == 0


def test_super_user_without_second_factor_is_not_let_in(boss):
    client = Client()
    client.force_login(boss)  # password only, no second factor in this session
    response = client.get(reverse("agency_admin:users"))
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert "/accounts/two-factor/" in response["Location"]


def test_deactivated_super_user_is_refused_by_the_services(boss, officer):
    boss.is_active = False
    boss.save()
    with pytest.raises(PermissionDenied):
        services.set_user_active(actor=boss, user=officer, active=False)
    assert User.objects.get(pk=officer.pk).is_active


# --- Listing ----------------------------------------------------------------------------------


def test_list_shows_only_own_agency(boss_client, boss, officer, foreign_officer):
    officer.last_login = dt.datetime(2026, 11, 20, 18, 30, tzinfo=dt.UTC)
    officer.save()
    response = boss_client.get(reverse("agency_admin:users"))
    assert response.status_code == 200
    html = response.content.decode()
    assert officer.email in html
    assert "Pat Officer" in html
    assert "Alert Console" in html
    assert boss.email in html
    assert foreign_officer.email not in html
    # Last login in the agency's time zone (America/Chicago: UTC-6 in November).
    assert "2026-11-20 12:30" in html


def test_list_never_shows_staff_accounts(boss_client):
    reviewer = UserFactory(irc_reviewer=True)
    html = boss_client.get(reverse("agency_admin:users")).content.decode()
    assert reviewer.email not in html


# --- Other agencies are invisible -------------------------------------------------------------


def test_every_user_url_of_another_agency_is_404(boss_client, foreign_officer):
    before = state(foreign_officer)
    for method, url in user_urls(foreign_officer.pk):
        response = getattr(boss_client, method)(
            url, {"full_name": "Hijacked", "role": Role.AGENCY_SUPER_USER, "applications": []}
        )
        assert response.status_code == 404, (method, url)
    assert state(foreign_officer) == before
    assert AuditEvent.objects.count() == 0
    assert mail.outbox == []


def test_staff_accounts_are_404_too(boss_client):
    reviewer = UserFactory(irc_reviewer=True)
    for method, url in user_urls(reviewer.pk):
        assert getattr(boss_client, method)(url).status_code == 404


def test_services_refuse_another_agencys_user(boss, foreign_officer):
    before = state(foreign_officer)
    calls = [
        lambda: services.update_agency_user(
            actor=boss, user=foreign_officer, full_name="x", role=Role.POLICE_USER
        ),
        lambda: services.set_user_active(actor=boss, user=foreign_officer, active=False),
        lambda: services.delete_agency_user(actor=boss, user=foreign_officer),
        lambda: services.send_password_reset(actor=boss, user=foreign_officer),
        lambda: services.set_application_access(actor=boss, user=foreign_officer, applications=[]),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert state(foreign_officer) == before
    assert AuditEvent.objects.count() == 0


def test_police_user_cannot_use_the_services(officer, agency):
    colleague = UserFactory(agency=agency)
    with pytest.raises(PermissionDenied):
        services.set_user_active(actor=officer, user=colleague, active=False)
    with pytest.raises(PermissionDenied):
        services.create_agency_user(actor=officer, email="new@riverside.example")
    assert User.objects.get(pk=colleague.pk).is_active
    assert not User.objects.filter(email="new@riverside.example").exists()


# --- No escalation ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.IRC_REVIEWER, Role.PLATFORM_ADMIN, "superuser", ""])
def test_forged_role_on_add_is_refused(boss_client, role):
    response = boss_client.post(
        reverse("agency_admin:user_add"),
        {"email": "sneaky@riverside.example", "role": role, "applications": ALL_APPS},
    )
    assert response.status_code == 400
    assert "role" in response.context["form"].errors
    assert not User.objects.filter(email="sneaky@riverside.example").exists()
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize("role", [Role.IRC_REVIEWER, Role.PLATFORM_ADMIN])
def test_forged_role_on_edit_is_refused(boss_client, officer, role):
    before = state(officer)
    response = boss_client.post(
        reverse("agency_admin:user_detail", args=[officer.pk]),
        {"full_name": "Pat Officer", "role": role},
    )
    assert response.status_code == 400
    assert "role" in response.context["edit_form"].errors
    assert state(officer) == before
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize("role", [Role.IRC_REVIEWER, Role.PLATFORM_ADMIN])
def test_services_refuse_staff_roles(boss, officer, role):
    with pytest.raises(ValidationError):
        services.update_agency_user(actor=boss, user=officer, full_name="", role=role)
    with pytest.raises(ValidationError):
        services.create_agency_user(actor=boss, email="x@riverside.example", role=role)
    assert User.objects.get(pk=officer.pk).role == Role.POLICE_USER
    assert not User.objects.filter(email="x@riverside.example").exists()


def test_unknown_application_is_refused(boss_client, officer):
    before = state(officer)
    response = boss_client.post(
        reverse("agency_admin:user_applications", args=[officer.pk]),
        {"applications": ["alert_console", "platform_admin_console"]},
    )
    assert response.status_code == 400
    assert state(officer) == before


# --- No self lock-out -------------------------------------------------------------------------


def test_super_user_cannot_demote_deactivate_or_delete_themselves(boss_client, boss):
    before = state(boss)
    response = boss_client.post(
        reverse("agency_admin:user_detail", args=[boss.pk]),
        {"full_name": "Chief", "role": Role.POLICE_USER},
    )
    assert response.status_code == 400
    assert "cannot change your own role" in response.content.decode()
    response = boss_client.post(reverse("agency_admin:user_deactivate", args=[boss.pk]))
    assert response.status_code == 400
    assert "cannot deactivate your own account" in response.content.decode()
    response = boss_client.post(reverse("agency_admin:user_delete", args=[boss.pk]))
    assert response.status_code == 400
    assert state(boss) == before
    assert AuditEvent.objects.count() == 0


def test_super_user_may_rename_themselves(boss_client, boss):
    response = boss_client.post(
        reverse("agency_admin:user_detail", args=[boss.pk]),
        {"full_name": "Chief Riverside", "role": Role.AGENCY_SUPER_USER},
    )
    assert response.status_code == 302
    assert User.objects.get(pk=boss.pk).full_name == "Chief Riverside"


# --- Bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", ["not-an-email", "two@@riverside.example", "a b@riverside.example", "", "x@"]
)
def test_malformed_email_is_a_form_error(boss_client, email):
    count = User.objects.count()
    response = boss_client.post(
        reverse("agency_admin:user_add"), {"email": email, "role": Role.POLICE_USER}
    )
    assert response.status_code == 400
    assert "email" in response.context["form"].errors
    assert User.objects.count() == count
    assert AuditEvent.objects.count() == 0
    assert mail.outbox == []


def test_duplicate_email_is_a_form_error_whatever_the_case(boss_client, officer, foreign_officer):
    count = User.objects.count()
    for email in ["OFFICER@Riverside.Example", foreign_officer.email]:
        response = boss_client.post(
            reverse("agency_admin:user_add"), {"email": email, "role": Role.POLICE_USER}
        )
        assert response.status_code == 400
        assert "already exists" in str(response.context["form"].errors["email"])
    assert User.objects.count() == count
    assert AuditEvent.objects.count() == 0


def test_forged_post_without_csrf_token_is_refused(boss, officer):
    client = Client(enforce_csrf_checks=True)
    login_verified(client, boss)
    before = state(officer)
    count = User.objects.count()
    posts = [
        (reverse("agency_admin:user_add"), {"email": "csrf@riverside.example"}),
        (reverse("agency_admin:user_detail", args=[officer.pk]), {"role": Role.POLICE_USER}),
        (reverse("agency_admin:user_deactivate", args=[officer.pk]), {}),
        (reverse("agency_admin:user_delete", args=[officer.pk]), {}),
        (reverse("agency_admin:user_applications", args=[officer.pk]), {"applications": []}),
        (reverse("agency_admin:user_password_reset", args=[officer.pk]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert state(officer) == before
    assert User.objects.count() == count
    assert AuditEvent.objects.count() == 0
    assert mail.outbox == []


def test_csrf_token_from_the_page_works(boss, officer):
    client = Client(enforce_csrf_checks=True)
    login_verified(client, boss)
    page = client.get(reverse("agency_admin:user_detail", args=[officer.pk]))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    response = client.post(
        reverse("agency_admin:user_deactivate", args=[officer.pk]),
        {"csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert not User.objects.get(pk=officer.pk).is_active


def test_repeating_an_action_is_a_clear_error(boss_client, officer):
    url = reverse("agency_admin:user_deactivate", args=[officer.pk])
    assert boss_client.post(url).status_code == 302
    response = boss_client.post(url)
    assert response.status_code == 400
    assert "already deactivated" in response.content.decode()
    assert AuditEvent.objects.count() == 1


def test_only_get_and_post(boss_client, officer):
    for url in [reverse("agency_admin:users"), reverse("agency_admin:user_deactivate", args=[1])]:
        assert boss_client.put(url).status_code == 405
        assert boss_client.delete(url).status_code == 405
    assert (
        boss_client.get(reverse("agency_admin:user_deactivate", args=[officer.pk])).status_code
        == 405
    )


# --- Each action: the change and exactly one audit event --------------------------------------


def assert_one_event(*, action, actor, target, agency):
    events = list(AuditEvent.objects.all())
    assert len(events) == 1, [e.action for e in events]
    event = events[0]
    assert event.action == action
    assert event.actor_id == actor.pk
    assert event.actor_email == actor.email
    assert event.agency_id == agency.pk
    assert event.target_type == "accounts.user"
    assert event.target_id == str(target.pk)
    assert event.ip_address == "203.0.113.9"
    assert event.user_agent == UA
    assert abs((event.occurred_at - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    return event


def test_add_user(boss_client, boss, agency):
    response = boss_client.post(
        reverse("agency_admin:user_add"),
        {
            "email": "  New.Officer@Riverside.Example ",
            "full_name": "New Officer",
            "role": Role.POLICE_USER,
            "applications": [Application.ALERT_CONSOLE, Application.SIREN],
            "send_invitation": "on",
        },
    )
    user = User.objects.get(email="new.officer@riverside.example")
    assert response.status_code == 302
    assert response["Location"] == reverse("agency_admin:user_detail", args=[user.pk])
    assert user.agency == agency
    assert user.role == Role.POLICE_USER
    assert not user.has_usable_password()
    grants = ApplicationGrant.objects.filter(user=user)
    assert sorted(g.application for g in grants) == ["alert_console", "siren"]
    assert all(g.granted_by_id == boss.pk for g in grants)
    event = assert_one_event(
        action=services.AuditAction.USER_CREATE, actor=boss, target=user, agency=agency
    )
    assert event.details["before"] is None
    assert event.details["after"]["email"] == user.email
    assert event.details["after"]["applications"] == ["alert_console", "siren"]
    assert event.details["invitation_sent"] is True
    # The invitation carries a working single-use link to choose a password.
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    link = re.search(r"https?://\S+/accounts/reset/(\S+)/(\S+)/", message.body)
    assert link, message.body
    uid = force_str(urlsafe_base64_decode(link[1]))
    assert uid == str(user.pk)
    assert default_token_generator.check_token(user, link[2])


def test_add_user_without_invitation_sends_no_mail(boss_client):
    response = boss_client.post(
        reverse("agency_admin:user_add"),
        {"email": "quiet@riverside.example", "role": Role.AGENCY_SUPER_USER},
    )
    assert response.status_code == 302
    user = User.objects.get(email="quiet@riverside.example")
    assert user.role == Role.AGENCY_SUPER_USER
    assert mail.outbox == []
    assert AuditEvent.objects.get().details["invitation_sent"] is False


def test_edit_name_and_role(boss_client, boss, officer, agency):
    response = boss_client.post(
        reverse("agency_admin:user_detail", args=[officer.pk]),
        {"full_name": "Sgt. Pat Officer", "role": Role.AGENCY_SUPER_USER},
    )
    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.full_name == "Sgt. Pat Officer"
    assert officer.role == Role.AGENCY_SUPER_USER
    event = assert_one_event(
        action=services.AuditAction.USER_UPDATE, actor=boss, target=officer, agency=agency
    )
    assert event.details["before"]["role"] == Role.POLICE_USER
    assert event.details["before"]["full_name"] == "Pat Officer"
    assert event.details["after"]["role"] == Role.AGENCY_SUPER_USER
    assert event.details["after"]["full_name"] == "Sgt. Pat Officer"


def test_deactivate_and_reactivate(boss_client, boss, officer, agency):
    response = boss_client.post(reverse("agency_admin:user_deactivate", args=[officer.pk]))
    assert response.status_code == 302
    assert not User.objects.get(pk=officer.pk).is_active
    event = assert_one_event(
        action=services.AuditAction.USER_DEACTIVATE, actor=boss, target=officer, agency=agency
    )
    assert event.details["before"]["is_active"] is True
    assert event.details["after"]["is_active"] is False
    # A deactivated account cannot log in.
    assert not Client().login(email=officer.email, password="Sturdy-Lantern-Harbor-91")

    response = boss_client.post(reverse("agency_admin:user_reactivate", args=[officer.pk]))
    assert response.status_code == 302
    assert User.objects.get(pk=officer.pk).is_active
    assert AuditEvent.objects.filter(action=services.AuditAction.USER_REACTIVATE).count() == 1
    assert AuditEvent.objects.count() == 2


def test_delete(boss_client, boss, officer, agency):
    assert (
        boss_client.get(reverse("agency_admin:user_delete", args=[officer.pk])).status_code == 200
    )
    response = boss_client.post(reverse("agency_admin:user_delete", args=[officer.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("agency_admin:users")
    assert not User.objects.filter(pk=officer.pk).exists()
    assert not ApplicationGrant.objects.filter(user_id=officer.pk).exists()
    event = assert_one_event(
        action=services.AuditAction.USER_DELETE, actor=boss, target=officer, agency=agency
    )
    assert event.target_label == "officer@riverside.example"
    assert event.details["before"]["email"] == "officer@riverside.example"
    assert event.details["after"] is None


def test_delete_a_user_who_has_audit_events_of_their_own(boss_client, boss, officer, agency):
    record_event(action="audio.play", actor=officer, agency=agency, details={})
    response = boss_client.post(reverse("agency_admin:user_delete", args=[officer.pk]))
    assert response.status_code == 302
    kept = AuditEvent.objects.get(action="audio.play")
    assert kept.actor_id is None
    assert kept.actor_email == "officer@riverside.example"


def test_send_password_reset(boss_client, boss, officer, agency, settings):
    settings.SITE_URL = "https://shotspotter.example"
    response = boss_client.post(reverse("agency_admin:user_password_reset", args=[officer.pk]))
    assert response.status_code == 302
    event = assert_one_event(
        action=services.AuditAction.USER_PASSWORD_RESET, actor=boss, target=officer, agency=agency
    )
    assert event.details == {"by": "super_user"}
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    link = re.search(r"https://shotspotter\.example/accounts/reset/([^/\s]+)/([^/\s]+)/", body)
    assert link, body
    assert default_token_generator.check_token(officer, link[2])
    # The password itself is untouched until the user follows the link.
    assert User.objects.get(pk=officer.pk).check_password("Sturdy-Lantern-Harbor-91")


def test_invited_user_sets_a_password_through_the_link_once(boss_client):
    boss_client.post(
        reverse("agency_admin:user_add"),
        {"email": "invitee@riverside.example", "role": Role.POLICE_USER, "send_invitation": "on"},
    )
    assert "created a ShotSpotter Open account for you" in mail.outbox[0].body
    path = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body)[1]
    visitor = Client()
    form_page = visitor.get(path, follow=True)
    assert form_page.status_code == 200
    set_url = form_page.redirect_chain[-1][0]
    new_password = "Granite-Meadow-Compass-48"
    response = visitor.post(set_url, {"new_password1": new_password, "new_password2": new_password})
    assert response.status_code == 302
    user = User.objects.get(email="invitee@riverside.example")
    assert user.check_password(new_password)
    # Single use: the same link no longer offers the form.
    again = Client().get(path, follow=True)
    assert "new_password1" not in again.content.decode()


def test_password_reset_link_opens_the_reset_page(boss_client, officer):
    boss_client.post(reverse("agency_admin:user_password_reset", args=[officer.pk]))
    path = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body)[1]
    response = Client().get(path, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain, "Django's reset view swaps the token for a session URL"
    assert "set-password" in response.redirect_chain[-1][0]


def test_no_password_reset_for_a_deactivated_account(boss_client, officer):
    officer.is_active = False
    officer.save()
    response = boss_client.post(reverse("agency_admin:user_password_reset", args=[officer.pk]))
    assert response.status_code == 400
    assert "Reactivate the account" in response.content.decode()
    assert mail.outbox == []
    assert AuditEvent.objects.count() == 0


def test_grant_and_deny_applications(boss_client, boss, officer, agency):
    response = boss_client.post(
        reverse("agency_admin:user_applications", args=[officer.pk]),
        {"applications": [Application.INVESTIGATOR_PORTAL, Application.SIREN]},
    )
    assert response.status_code == 302
    assert state(officer)[-1] == ["investigator_portal", "siren"]
    officer.refresh_from_db()
    assert officer.has_application(Application.SIREN)
    assert not officer.has_application(Application.ALERT_CONSOLE)
    event = assert_one_event(
        action=services.AuditAction.USER_APPLICATIONS, actor=boss, target=officer, agency=agency
    )
    assert event.details == {
        "before": ["alert_console"],
        "after": ["investigator_portal", "siren"],
        "granted": ["investigator_portal", "siren"],
        "denied": ["alert_console"],
    }
    # No checkbox ticked denies everything.
    boss_client.post(reverse("agency_admin:user_applications", args=[officer.pk]), {})
    assert state(officer)[-1] == []
    assert AuditEvent.objects.count() == 2


def test_detail_page_shows_checkboxes_for_each_application(boss_client, officer):
    html = boss_client.get(reverse("agency_admin:user_detail", args=[officer.pk])).content.decode()
    for application in Application:
        assert f'value="{application.value}"' in html
        assert application.label in html
    assert re.search(r'value="alert_console"[^>]*checked', html)
    assert not re.search(r'value="siren"[^>]*checked', html)


def test_failed_mail_rolls_the_action_back(boss, officer, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 1  # nothing listens there
    settings.EMAIL_TIMEOUT = 2
    with pytest.raises(OSError):
        services.create_agency_user(actor=boss, email="rolled-back@riverside.example")
    assert not User.objects.filter(email="rolled-back@riverside.example").exists()
    assert AuditEvent.objects.count() == 0


# --- The audit log page -----------------------------------------------------------------------


def test_audit_log_shows_only_own_agency(boss_client, boss, agency, other_agency, officer):
    services.set_user_active(actor=boss, user=officer, active=False)
    other_boss = UserFactory(super_user=True, agency=other_agency)
    record_event(action="secret.other_agency", actor=other_boss, agency=other_agency)
    record_event(action="staff.only", details={})
    response = boss_client.get(reverse("agency_admin:audit"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "agency_user.deactivate" in html
    assert "secret.other_agency" not in html
    assert "staff.only" not in html
    assert [e.action for e in response.context["page"]] == ["agency_user.deactivate"]


def test_audit_log_filters(boss_client, boss, agency, officer):
    other = UserFactory(email="deputy@riverside.example", super_user=True, agency=agency)
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    old = record_event(action="audio.play", actor=officer, agency=agency)
    # Events cannot be updated, so place one in the past through a fresh insert.
    AuditEvent.objects.create(
        action="audio.export",
        actor=other,
        actor_email=other.email,
        agency=agency,
        occurred_at=dt.datetime(2026, 1, 15, 23, 30, tzinfo=chicago),
    )

    def actions(**params):
        response = boss_client.get(reverse("agency_admin:audit"), params)
        assert response.status_code == 200, response.context["form"].errors
        return [e.action for e in response.context["page"]]

    assert actions(action="audio.play") == ["audio.play"]
    assert actions(actor="deputy") == ["audio.export"]
    # 23:30 in Chicago on 15 January is already the 16th in UTC; the day is the agency's.
    assert actions(date_from="2026-01-15", date_to="2026-01-15") == ["audio.export"]
    assert actions(date_from="2026-01-16", date_to="2026-01-16") == []
    today = old.occurred_at.astimezone(chicago).date().isoformat()
    assert actions(date_from=today) == ["audio.play"]


def test_audit_log_bad_filters_are_clear_errors(boss_client, boss, agency):
    record_event(action="audio.play", actor=boss, agency=agency)
    for params in [
        {"date_from": "2026-02-30"},
        {"date_from": "2026-03-02", "date_to": "2026-03-01"},
        {"action": "not.an.action"},
    ]:
        response = boss_client.get(reverse("agency_admin:audit"), params)
        assert response.status_code == 400
        assert response.context["form"].errors
        assert list(response.context["page"]) == []


def test_audit_log_is_paginated(boss_client, boss, agency):
    for i in range(55):
        record_event(action="audio.play", actor=boss, agency=agency, details={"n": i})
    first = boss_client.get(reverse("agency_admin:audit"))
    assert len(first.context["page"]) == 50
    assert "Page 1 of 2" in first.content.decode()
    second = boss_client.get(reverse("agency_admin:audit"), {"page": 2, "action": "audio.play"})
    assert len(second.context["page"]) == 5
    assert boss_client.get(reverse("agency_admin:audit"), {"page": "zzz"}).status_code == 200


def test_no_method_or_url_edits_or_deletes_audit_events(boss_client, boss, agency):
    event = record_event(action="audio.play", actor=boss, agency=agency, details={"clip": 1})
    url = reverse("agency_admin:audit")
    for method in ("post", "put", "patch", "delete"):
        response = getattr(boss_client, method)(url, {"id": event.pk, "action": "tampered"})
        assert response.status_code == 405, method
    for path in (
        f"{url}{event.pk}/",
        f"{url}{event.pk}/delete/",
        f"{url}{event.pk}/edit/",
        f"/agency/audit/delete/?id={event.pk}",
    ):
        for method in ("get", "post", "delete"):
            assert getattr(boss_client, method)(path).status_code == 404, (method, path)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.action == "audio.play"
    assert stored.details == {"clip": 1}
    assert AuditEvent.objects.count() == 1


def test_police_user_cannot_read_the_audit_log(agency):
    officer = UserFactory(agency=agency, applications=ALL_APPS)
    client = Client()
    client.force_login(officer)
    assert client.get(reverse("agency_admin:audit")).status_code == 403
    assert client.get("/agency/").status_code == 403


def test_deactivation_ends_the_users_open_session(boss_client, officer):
    officer_client = Client()
    officer_client.force_login(officer)
    assert officer_client.get("/").status_code == 200
    boss_client.post(reverse("agency_admin:user_deactivate", args=[officer.pk]))
    response = officer_client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_forged_extra_fields_cannot_pick_agency_or_superuser(boss_client, agency, other_agency):
    response = boss_client.post(
        reverse("agency_admin:user_add"),
        {
            "email": "forged@riverside.example",
            "role": Role.POLICE_USER,
            "agency": other_agency.pk,
            "is_superuser": "on",
            "is_staff": "on",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="forged@riverside.example")
    assert user.agency == agency
    assert not user.is_superuser
    assert not user.is_staff


def test_pages_show_a_locked_out_or_invited_account(boss_client, officer, settings):
    """An officer locked out by failed log-ins, or invited but without a password yet, used
    to look "Active" to their super user, who then could not tell why they cannot log in."""
    from apps.accounts.auth_services import register_login_failure

    settings.LOGIN_FAILURE_LIMIT = 2
    for _ in range(2):
        register_login_failure(email=officer.email, request=None, reason="bad_credentials")
    invited = services.create_agency_user(
        actor=User.objects.get(email="chief@riverside.example"),
        email="invited@riverside.example",
        send_invitation=False,
    )

    listing = boss_client.get(reverse("agency_admin:users")).content.decode()
    table = listing[listing.index('<table class="agency-users') :]
    rows = {
        email: table[table.index(f">{email}</a>") : table.index("</tr>", table.index(email))]
        for email in (officer.email, invited.email, "chief@riverside.example")
    }
    assert "Locked out" in rows[officer.email]
    assert "Invited" in rows[invited.email]
    assert "Active" in rows["chief@riverside.example"]

    detail = boss_client.get(reverse("agency_admin:user_detail", args=[officer.pk]))
    assert "Locked out until" in detail.content.decode()
    detail = boss_client.get(reverse("agency_admin:user_detail", args=[invited.pk]))
    assert "Not chosen yet (invited)" in detail.content.decode()

    # A password reset lifts the lock: the pages say so no more.
    from apps.accounts.auth_services import clear_login_failures

    clear_login_failures(email=officer.email)
    detail = boss_client.get(reverse("agency_admin:user_detail", args=[officer.pk]))
    assert "Locked out" not in detail.content.decode()


def test_audit_log_shows_an_account_change_as_the_fields_it_changed(boss_client, boss, officer):
    """A deactivation's details are two full snapshots of the account; the page printed
    both as indented JSON in a narrow column (half a screen per event at 1280 px). It
    now lists the changed field, before and after, and folds the full details away."""
    services.set_user_active(actor=boss, user=officer, active=False)
    record_event(action="auth.login", actor=boss, agency=boss.agency, details={"step": "x"})
    page = boss_client.get(reverse("agency_admin:audit")).content.decode()
    assert "<strong>is_active</strong>: true → false" in page
    assert "<strong>email</strong>" not in page  # unchanged fields are not listed
    assert "<details><summary>All details</summary>" in page
    short = '<code class="audit-details">{&quot;step&quot;: &quot;x&quot;}</code>'
    assert short in page  # short details: one line


def test_audit_log_shows_actions_as_words_with_the_code_in_small_text(boss_client, boss, officer):
    """The table and the filter showed raw codes like ``agency_user.applications_change``."""
    services.set_user_active(actor=boss, user=officer, active=False)
    record_event(action="agency_user.applications_change", actor=boss, agency=boss.agency)
    record_event(action="platform_admin.agency.change", agency=boss.agency)
    record_event(action="something.brand_new", actor=boss, agency=boss.agency)
    response = boss_client.get(reverse("agency_admin:audit"))
    page = response.content.decode()
    title = "Action code (the CSV export and the filter use it)"
    small = f'<br><small class="muted"><code title="{title}">'
    for label, code in [
        ("User&#x27;s applications changed", "agency_user.applications_change"),
        ("User deactivated", "agency_user.deactivate"),
        ("Platform administrator: agency changed", "platform_admin.agency.change"),
        ("Something brand new", "something.brand_new"),
    ]:
        assert f'<td data-label="Action">{label}{small}{code}</code></small></td>' in page
    # The filter lists the words and filters on the code.
    choices = dict(response.context["form"].fields["action"].choices)
    assert choices["agency_user.applications_change"] == "User's applications changed"
    assert '<option value="agency_user.deactivate">User deactivated</option>' in page
    assert '<table class="audit-log stacked">' in page  # the phone layout stays
    filtered = boss_client.get(
        reverse("agency_admin:audit"), {"action": "agency_user.applications_change"}
    )
    assert [e.action for e in filtered.context["page"]] == ["agency_user.applications_change"]


def test_every_action_the_code_records_has_a_label():
    """A label is written for each literal action code in apps/ (a new code falls back to
    its words, but should get one)."""
    import pathlib
    import re

    from apps.audit.labels import ACTION_LABELS

    root = pathlib.Path(__file__).resolve().parents[2] / "apps"
    codes = set()
    for path in root.rglob("*.py"):
        text = path.read_text()
        codes |= set(re.findall(r'action="([a-z_]+\.[a-z_.]+)"', text))
        codes |= set(re.findall(r'= "((?:agency_user|auth)\.[a-z_]+)"', text))
        codes |= set(re.findall(r'"(review\.surge_o(?:n|ff))"', text))
    assert codes and not codes - set(ACTION_LABELS), sorted(codes - set(ACTION_LABELS))
