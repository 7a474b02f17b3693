"""Who is on the other end of a websocket, re-read from the database and the session.

Channels' AuthMiddlewareStack gives the user at connect time; django-otp's middleware
does not run for websockets, so the second factor is read from the session here. Both
are read again for every event, so a deactivated account or a logged-out session stops
receiving at once.
"""

from __future__ import annotations

from functools import partial

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Exists, OuterRef
from django.utils.crypto import constant_time_compare
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice


def _is_verified(user) -> bool:
    return user.otp_device is not None


def user_from_session(session_key: str | None):
    """The active user of a session with its verified device, or None."""
    if not session_key:
        return None
    from importlib import import_module

    from django.conf import settings

    engine = import_module(settings.SESSION_ENGINE)
    session: SessionBase = engine.SessionStore(session_key)
    user_id = session.get(SESSION_KEY)
    if user_id is None or not session.get(BACKEND_SESSION_KEY):
        return None
    # Whether the user enrolled an authenticator (then a code is asked even where the role
    # does not require one: apps.accounts.two_factor.needs_verification), in the same query.
    confirmed_totp = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    user = (
        get_user_model()
        .objects.select_related("agency")
        .annotate(has_confirmed_totp=Exists(confirmed_totp))
        .filter(pk=user_id)
        .first()
    )
    if user is None or not user.is_active:
        return None
    # The session is invalid once the password changed (as Django's get_user checks).
    stored_hash = session.get(HASH_SESSION_KEY)
    if not stored_hash or not constant_time_compare(stored_hash, user.get_session_auth_hash()):
        return None
    user.otp_device = None
    device_id = session.get(DEVICE_ID_SESSION_KEY)
    if device_id:
        device = Device.from_persistent_id(device_id, for_verify=False)
        if device is not None and device.user_id == user.pk and device.confirmed:
            user.otp_device = device
    user.is_verified = partial(_is_verified, user)
    return user
