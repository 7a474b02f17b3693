"""Two-factor login: who must use it, TOTP enrolment with a QR code, backup codes, devices."""

from __future__ import annotations

import base64
import html
import re
from base64 import b32encode

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import Application, LoginThrottle, Role
from apps.audit.models import AuditEvent
from tests.factories import (
    DEFAULT_PASSWORD,
    AgencyFactory,
    UserFactory,
    add_backup_codes,
    add_totp_device,
    login_verified,
    totp_code,
)

LOGIN = "/accounts/login/"
VERIFY = "/accounts/two-factor/"
SETUP = "/accounts/two-factor/setup/"
ACCOUNT = "/accounts/my-account/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_otp_backoff(settings):
    # django-otp makes you wait 1, 2, 4... seconds after a wrong code; the dedicated
    # throttling test turns it back on.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def text(response) -> str:
    return html.unescape(response.content.decode())


def password_login(client: Client, user, next_url: str = ""):
    data = {"email": user.email, "password": DEFAULT_PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post(LOGIN, data)


def agency_with_police_2fa():
    return AgencyFactory(require_two_factor_for_police=True)


REQUIRING = {
    "agency super user": lambda: UserFactory(role=Role.AGENCY_SUPER_USER),
    "IRC reviewer": lambda: UserFactory(role=Role.IRC_REVIEWER),
    "platform admin": lambda: UserFactory(role=Role.PLATFORM_ADMIN),
    "police user of an agency that requires it": lambda: UserFactory(
        agency=agency_with_police_2fa()
    ),
}


@pytest.mark.parametrize("make_user", REQUIRING.values(), ids=REQUIRING.keys())
def test_roles_that_require_2fa_must_enrol_before_anything_else(client, make_user):
    user = make_user()
    assert user.requires_two_factor
    response = password_login(client, user)
    assert response.status_code == 302
    assert response["Location"] == SETUP
    for path in ("/", ACCOUNT, "/accounts/my-account/password/", "/siren/", "/agency/users/"):
        blocked = client.get(path)
        assert blocked.status_code == 302, path
        assert blocked["Location"].startswith(SETUP), path
    # A POST elsewhere is refused too (and does nothing).
    assert client.post("/accounts/my-account/backup-codes/regenerate/").status_code == 302
    assert not StaticToken.objects.filter(device__user=user).exists()

    page = client.get(SETUP)
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    wrong = client.post(SETUP, {"code": "000000" if totp_code(device) != "000000" else "111111"})
    assert wrong.status_code == 400
    assert "not valid" in text(wrong)
    device.refresh_from_db()
    assert not device.confirmed

    done = client.post(SETUP, {"code": totp_code(device), "name": "Work phone"})
    assert done.status_code == 302
    device.refresh_from_db()
    assert device.confirmed and device.name == "Work phone"
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(action="two_factor.device_added", actor=user).exists()


def test_enrolment_page_shows_a_qr_code_and_the_key(client):
    user = UserFactory(role=Role.IRC_REVIEWER)
    password_login(client, user)
    body = text(client.get(SETUP))
    device = TOTPDevice.objects.get(user=user)
    match = re.search(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', body)
    assert match, "QR code image missing"
    svg = base64.b64decode(match.group(1)).decode()
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg[:200]
    assert "<path" in svg
    secret = b32encode(device.bin_key).decode().rstrip("=")
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in body
    # Reloading keeps the same pending device (the QR already scanned stays valid).
    client.get(SETUP)
    assert TOTPDevice.objects.filter(user=user).count() == 1
    # No inline scripts or styles (CSP).
    assert "<script>" not in body and "style=" not in body


def test_backup_codes_are_shown_once_after_enrolment(client):
    user = UserFactory(role=Role.AGENCY_SUPER_USER)
    password_login(client, user)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user)
    response = client.post(SETUP, {"code": totp_code(device)})
    assert response["Location"] == "/accounts/my-account/backup-codes/"
    first = client.get(response["Location"])
    assert "no-store" in first["Cache-Control"]
    shown = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", text(first))
    stored = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert len(shown) == 10 and set(shown) == stored
    second = client.get(response["Location"])
    assert not re.findall(r"<li><code>([a-z2-7]{8})</code></li>", text(second))
    assert "10 unused backup codes" in text(second)


def test_police_user_without_agency_requirement_logs_in_with_password_only(client):
    user = UserFactory(applications=[Application.ALERT_CONSOLE])
    assert not user.requires_two_factor
    response = password_login(client, user)
    assert response["Location"] == "/"
    assert client.get("/console/").status_code == 200


def test_agency_switching_the_requirement_on_applies_to_open_sessions(client):
    user = UserFactory(applications=[Application.ALERT_CONSOLE])
    password_login(client, user)
    assert client.get("/console/").status_code == 200
    user.agency.require_two_factor_for_police = True
    user.agency.save()
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"] == f"{SETUP}?next=%2Fconsole%2F"


def test_login_step_two_accepts_a_totp_code_and_keeps_next(client):
    user = UserFactory(role=Role.AGENCY_SUPER_USER, applications=[Application.SIREN])
    device = add_totp_device(user)
    response = password_login(client, user, next_url="/siren/")
    assert response["Location"] == f"{VERIFY}?next=%2Fsiren%2F"
    assert client.get("/siren/")["Location"].startswith(VERIFY)
    # Adding a device with the password alone is not possible.
    assert client.get(SETUP)["Location"].startswith(VERIFY)

    wrong = client.post(VERIFY, {"code": "12345", "next": "/siren/"})
    assert wrong.status_code == 400 and "not valid" in text(wrong)
    session_key = client.session.session_key
    ok = client.post(VERIFY, {"code": totp_code(device), "next": "/siren/"})
    assert ok.status_code == 302 and ok["Location"] == "/siren/"
    assert client.session.session_key != session_key  # new session key after verifying
    assert client.get("/siren/").status_code == 200
    event = AuditEvent.objects.get(action="auth.two_factor_verified")
    assert event.actor == user and event.details == {"method": "totp"}
    assert AuditEvent.objects.filter(action="auth.two_factor_failed", actor=user).count() == 1


def test_a_totp_code_cannot_be_replayed(client):
    user = UserFactory(role=Role.IRC_REVIEWER)
    device = add_totp_device(user)
    code = totp_code(device)
    password_login(client, user)
    assert client.post(VERIFY, {"code": code}).status_code == 302
    other = Client()
    password_login(other, user)
    assert other.post(VERIFY, {"code": code}).status_code == 400
    assert other.post(VERIFY, {"code": totp_code(device, steps_ahead=1)}).status_code == 302


def test_backup_codes_work_once_each(client):
    user = UserFactory(role=Role.PLATFORM_ADMIN)
    add_totp_device(user)
    codes = add_backup_codes(user)
    password_login(client, user)
    response = client.post(VERIFY, {"code": codes[0].upper()})
    assert response.status_code == 302
    assert AuditEvent.objects.get(action="auth.two_factor_verified").details == {
        "method": "backup_code"
    }
    assert StaticToken.objects.filter(device__user=user).count() == 9

    client.post("/accounts/logout/")
    password_login(client, user)
    reused = client.post(VERIFY, {"code": codes[0]})
    assert reused.status_code == 400
    assert client.get("/")["Location"].startswith(VERIFY)
    assert client.post(VERIFY, {"code": codes[1]}).status_code == 302
    assert StaticToken.objects.filter(device__user=user).count() == 8


def test_wrong_codes_in_a_row_are_throttled(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 10
    user = UserFactory(role=Role.IRC_REVIEWER)
    device = add_totp_device(user)
    password_login(client, user)
    client.post(VERIFY, {"code": "000001"})
    blocked = client.post(VERIFY, {"code": totp_code(device)})
    assert blocked.status_code == 400
    assert "Wait a few seconds" in text(blocked)
    assert client.get("/").status_code == 302


def test_wrong_codes_count_towards_account_lockout(client, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    user = UserFactory(role=Role.AGENCY_SUPER_USER)
    device = add_totp_device(user)
    password_login(client, user)
    client.post(VERIFY, {"code": "000001"})
    client.post(VERIFY, {"code": "000002"})
    response = client.post(VERIFY, {"code": "000003"})
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert "_auth_user_id" not in client.session  # logged out
    assert "Too many failed log-in attempts" in text(client.get(LOGIN))
    assert LoginThrottle.objects.get(scope="account", key=user.email).locked_until
    # Even password + right code are refused while locked.
    assert password_login(client, user).status_code == 429
    assert AuditEvent.objects.filter(action="account.locked", target_id=str(user.pk)).exists()
    assert not AuditEvent.objects.filter(action="auth.two_factor_verified").exists()
    after = client.post(VERIFY, {"code": totp_code(device)})  # no session any more
    assert after["Location"].startswith(LOGIN)
    assert not AuditEvent.objects.filter(action="auth.two_factor_verified").exists()


def test_unverified_api_request_gets_problem_json(client):
    user = UserFactory(role=Role.IRC_REVIEWER)
    add_totp_device(user)
    password_login(client, user)
    response = client.get("/api/schema/")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"


def test_voluntary_enrolment_by_police_user_then_login_asks_for_a_code(client):
    user = UserFactory()
    client.force_login(user)
    page = client.get(ACCOUNT)
    assert "Two-factor login is off" in text(page)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user)
    assert client.post(SETUP, {"code": totp_code(device)}).status_code == 302
    client.post("/accounts/logout/")
    response = password_login(client, user)
    assert response["Location"] == VERIFY
    assert client.post(VERIFY, {"code": totp_code(device, steps_ahead=1)}).status_code == 302


# --- My Account: devices and backup codes -----------------------------------------------


def test_last_device_of_a_user_who_requires_2fa_cannot_be_removed(client):
    user = UserFactory(role=Role.AGENCY_SUPER_USER)
    device = login_verified(client, user)
    response = client.post(f"/accounts/my-account/devices/{device.pk}/remove/", follow=True)
    assert "cannot remove your only authenticator app" in text(response)
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    assert not AuditEvent.objects.filter(action="two_factor.device_removed").exists()


def test_second_device_can_be_added_and_one_removed(client):
    user = UserFactory(role=Role.AGENCY_SUPER_USER)
    first = login_verified(client, user)
    add_backup_codes(user)
    client.get(SETUP)
    second = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(SETUP, {"code": totp_code(second), "name": "Spare phone"})
    assert response.status_code == 302
    assert response["Location"] == ACCOUNT  # backup codes exist already: none shown
    page = text(client.get(ACCOUNT))
    assert "Spare phone" in page and first.name in page
    # Removing the device this session was verified with keeps the session verified.
    response = client.post(f"/accounts/my-account/devices/{first.pk}/remove/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=first.pk).exists()
    assert client.get(ACCOUNT).status_code == 200
    assert AuditEvent.objects.filter(action="two_factor.device_removed", actor=user).count() == 1


def test_police_user_may_turn_voluntary_2fa_off(client):
    user = UserFactory()
    device = login_verified(client, user)
    add_backup_codes(user)
    response = client.post(f"/accounts/my-account/devices/{device.pk}/remove/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticToken.objects.filter(device__user=user).exists()
    client.post("/accounts/logout/")
    assert password_login(client, user)["Location"] == "/"


def test_cannot_remove_someone_elses_device(client):
    user = UserFactory()
    victim = UserFactory(role=Role.IRC_REVIEWER)
    victim_device = add_totp_device(victim)
    login_verified(client, user)
    response = client.post(f"/accounts/my-account/devices/{victim_device.pk}/remove/", follow=True)
    assert "does not exist" in text(response)
    assert TOTPDevice.objects.filter(pk=victim_device.pk).exists()


def test_regenerating_backup_codes_replaces_the_old_ones(client):
    user = UserFactory(role=Role.IRC_REVIEWER)
    login_verified(client, user)
    old = add_backup_codes(user)
    response = client.post("/accounts/my-account/backup-codes/regenerate/")
    assert response["Location"] == "/accounts/my-account/backup-codes/"
    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", text(client.get(response["Location"])))
    stored = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert len(new) == 10 and set(new) == stored and not stored & set(old)
    assert AuditEvent.objects.filter(action="two_factor.backup_codes_generated").count() == 1

    other = Client()
    password_login(other, user)
    assert other.post(VERIFY, {"code": old[0]}).status_code == 400
    assert other.post(VERIFY, {"code": new[0]}).status_code == 302


def test_regenerating_backup_codes_without_a_device_is_refused(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/accounts/my-account/backup-codes/regenerate/", follow=True)
    assert "Set up an authenticator app first" in text(response)
    assert not StaticToken.objects.filter(device__user=user).exists()


def test_forged_device_removal_without_csrf_is_refused():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    device = login_verified(client, user)
    assert client.post(f"/accounts/my-account/devices/{device.pk}/remove/").status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_device_changes_need_post(client):
    user = UserFactory()
    device = login_verified(client, user)
    assert client.get(f"/accounts/my-account/devices/{device.pk}/remove/").status_code == 405
    assert client.get("/accounts/my-account/backup-codes/regenerate/").status_code == 405
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_platform_admin_resets_a_lost_phone_and_the_user_enrols_again(client):
    boss = UserFactory(role=Role.AGENCY_SUPER_USER)
    add_totp_device(boss)
    add_backup_codes(boss)
    admin_user = UserFactory(role=Role.PLATFORM_ADMIN)
    login_verified(client, admin_user)
    response = client.post(
        "/platform-admin/accounts/user/",
        {"action": "reset_two_factor_login", "_selected_action": [boss.pk], "index": 0},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=boss).exists()
    assert not StaticToken.objects.filter(device__user=boss).exists()
    event = AuditEvent.objects.get(action="two_factor.reset")
    assert event.actor == admin_user and event.agency == boss.agency

    other = Client()
    assert password_login(other, boss)["Location"] == SETUP


def test_nobody_resets_their_own_two_factor_this_way(rf):
    from apps.accounts.two_factor import TwoFactorError, reset_two_factor

    admin_user = UserFactory(role=Role.PLATFORM_ADMIN, two_factor=True)
    with pytest.raises(TwoFactorError):
        reset_two_factor(user=admin_user, actor=admin_user, request=rf.post("/"))
    assert TOTPDevice.objects.filter(user=admin_user).exists()


def test_using_a_backup_code_does_not_slow_down_the_authenticator_app(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 10
    settings.OTP_STATIC_THROTTLE_FACTOR = 10
    user = UserFactory(role=Role.IRC_REVIEWER)
    device = add_totp_device(user)
    codes = add_backup_codes(user)
    password_login(client, user)
    assert client.post(VERIFY, {"code": codes[0]}).status_code == 302
    device.refresh_from_db()
    assert device.throttling_failure_count == 0
    other = Client()
    password_login(other, user)
    assert other.post(VERIFY, {"code": totp_code(device)}).status_code == 302


def test_enrolment_backs_off_after_a_wrong_code(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 10
    user = UserFactory(role=Role.IRC_REVIEWER)
    password_login(client, user)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user)
    client.post(SETUP, {"code": "000001" if totp_code(device) != "000001" else "000002"})
    response = client.post(SETUP, {"code": totp_code(device)})
    assert response.status_code == 400
    assert "Wait a few seconds" in text(response)
    device.refresh_from_db()
    assert not device.confirmed


def test_a_code_used_in_the_same_step_says_so_instead_of_blaming_the_clock(client):
    """Logging in twice within one 30 s step: the phone's code is right but already used."""
    user = UserFactory(role=Role.IRC_REVIEWER)
    device = add_totp_device(user)
    code = totp_code(device)
    password_login(client, user)
    assert client.post(VERIFY, {"code": code}).status_code == 302
    other = Client()
    password_login(other, user)
    replay = other.post(VERIFY, {"code": code})
    assert replay.status_code == 400
    assert "That code was already used. Wait for your app to show the next one" in text(replay)
    assert "Check the time on your phone" not in text(replay)
    wrong = other.post(VERIFY, {"code": "000000" if code != "000000" else "111111"})
    assert "Check the time on your phone" in text(wrong)


def test_before_the_second_factor_the_top_bar_offers_only_log_out(client):
    user = UserFactory(role=Role.IRC_REVIEWER)
    device = add_totp_device(user)
    password_login(client, user)
    page = text(client.get(VERIFY))
    bar = page[page.index('<header class="topbar">') : page.index("</header>")]
    assert "Log out" in bar
    for link in ("Review Center", "My Account", "/review/", ACCOUNT):
        assert link not in bar
    # Once verified, the usual bar is back.
    client.post(VERIFY, {"code": totp_code(device)})
    home = text(client.get(ACCOUNT))
    assert "My Account" in home[: home.index("</header>")]


def test_a_reused_code_does_not_count_towards_lockout_but_wrong_codes_do(client, settings):
    """Logging in from a second browser within one 30 s step is not a guess."""
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.OTP_TOTP_THROTTLE_FACTOR = 10  # a reuse does not slow the app down either
    user = UserFactory(role=Role.AGENCY_SUPER_USER)
    device = add_totp_device(user)
    code = totp_code(device)
    password_login(client, user)
    assert client.post(VERIFY, {"code": code}).status_code == 302
    other = Client()
    password_login(other, user)
    for _ in range(settings.LOGIN_FAILURE_LIMIT + 1):
        replay = other.post(VERIFY, {"code": code})
        assert replay.status_code == 400
        assert "That code was already used" in text(replay)
    assert (
        not LoginThrottle.objects.filter(scope="account", key=user.email)
        .exclude(failures=0)
        .exists()
    )
    assert not AuditEvent.objects.filter(action="account.locked").exists()
    assert other.post(VERIFY, {"code": totp_code(device, steps_ahead=1)}).status_code == 302

    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    third = Client()
    password_login(third, user)
    for wrong in ("000001", "000002"):
        assert third.post(VERIFY, {"code": wrong}).status_code == 400
    locked = third.post(VERIFY, {"code": "000003"})
    assert locked.status_code == 302 and locked["Location"] == LOGIN
    assert LoginThrottle.objects.get(scope="account", key=user.email).locked_until
