"""Who may play incident audio: the one rule, for the review screen and the portal alike."""

from __future__ import annotations

from apps.accounts.access import can_use_application
from apps.accounts.models import AGENCY_ROLES, Application
from apps.incidents.models import AudioClip, IncidentStatus

# The agency applications that show an incident's details, and so its audio.
AUDIO_APPLICATIONS = (
    Application.ALERT_CONSOLE,
    Application.INVESTIGATOR_PORTAL,
    Application.SIREN,
)
# Published, or published and later cancelled (dismissed with ``published_at`` kept): the
# agency keeps access to evidence it was shown, until retention removes the clip.
AGENCY_AUDIO_STATUSES = (IncidentStatus.PUBLISHED, IncidentStatus.DISMISSED)


def user_is_verified(user) -> bool:
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


def may_play_incident_clip(*, user, clip: AudioClip) -> bool:
    """Review-center staff (two-factor verified): any clip, as the review queue shows them.

    Agency users: a clip of their own agency's incident once it was published (also after
    a cancellation), with a grant for an application that shows incident details, and
    with their second factor when their role or agency asks for it.
    """
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_irc_reviewer:
        return user_is_verified(user)
    if user.role not in AGENCY_ROLES:
        return False
    incident = clip.incident
    if user.agency_id is None or user.agency_id != incident.agency_id:
        return False
    if incident.published_at is None or incident.status not in AGENCY_AUDIO_STATUSES:
        return False
    if user.requires_two_factor and not user_is_verified(user):
        return False
    return any(can_use_application(user=user, application=app) for app in AUDIO_APPLICATIONS)


def playable_incident_clip_get(*, user, clip_id: int) -> AudioClip | None:
    """The clip if ``user`` may play it; None whether it is missing or not theirs."""
    clip = AudioClip.objects.select_related("incident__agency", "sensor").filter(pk=clip_id).first()
    if clip is None or not may_play_incident_clip(user=user, clip=clip):
        return None
    return clip
