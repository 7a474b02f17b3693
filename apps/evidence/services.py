"""The one playback path for stored audio evidence: authorise (audited), then fetch by token.

Every playback is one user action: pressing play POSTs to ``clip_playback_authorize``,
which checks who may play, verifies the file against its SHA-256, writes exactly one
``audio.playback`` audit event and issues a short-lived playback token bound to the user,
the session and the clip. The audio element then GETs the bytes with that token
(``playback_fetch``), with Range requests as browsers make them; those requests are part
of the same playback and write no further events. A token opens once (the first request
for its bytes); a later request from byte 0 (a replay, or a copy) is refused, as is any
request after ``PLAYBACK_TTL_S``, beyond ``PLAYBACK_MAX_COPIES`` clip sizes in all, by
another user or from another session. Replaying is
pressing play again: a new token, a new audit event.

Other kinds of stored evidence (e.g. investigation clips) use the same path: register the
model with ``register_clip_kind`` (who may play it, what its audit event names, and the
slug of its press-play URL ``evidence:kind_clip_playback``); the player then works as for
incident clips.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import record_event
from apps.evidence.models import PlaybackGrant
from apps.evidence.selectors import may_play_incident_clip
from apps.incidents.models import AudioClip

# From issue to the player's last request: long enough to start and play a few seconds
# (the browser keeps what it fetched), short enough that a token is no lasting link.
# A constant, not a setting, like the audio window itself.
PLAYBACK_TTL_S = 60
# What one playback may fetch in all, in clip sizes: a seek may re-fetch a part, never
# make copies.
PLAYBACK_MAX_COPIES = 2
# Spent grants are deleted a day after they expire; the audit event is the lasting record.
SPENT_GRANTS_KEPT_S = 24 * 3600


class PlaybackError(Exception):
    status = 404
    title = "Not Found"


class ClipNotPlayable(PlaybackError):
    """Missing, not this user's to play, or an unknown token: all look the same (404)."""


class ClipIntegrityError(PlaybackError):
    status = 409
    title = "Conflict"


class PlaybackGone(PlaybackError):
    """The token expired or was used up: playing again needs a new (audited) playback."""

    status = 410
    title = "Gone"


class RangeNotSatisfiable(PlaybackError):
    status = 416
    title = "Range Not Satisfiable"

    def __init__(self, message: str, *, size: int):
        super().__init__(message)
        self.size = size


@dataclass(frozen=True)
class ClipSubject:
    """What a clip is evidence of, as its audit events name it."""

    agency: object  # apps.accounts.models.Agency: the agency that reads the audit event
    reference: str  # e.g. the incident's "42-17"
    details: dict


@dataclass(frozen=True)
class ClipKind:
    may_play: Callable[..., bool]  # (*, user, clip) -> bool
    subject: Callable[[models.Model], ClipSubject]
    model: type[models.Model] | None = None


_CLIP_KINDS: dict[str, ClipKind] = {}
# URL slug -> model label, for ``evidence:kind_clip_playback``.
_CLIP_KIND_SLUGS: dict[str, str] = {}


def register_clip_kind(
    model: type[models.Model],
    *,
    may_play: Callable[..., bool],
    subject: Callable[[models.Model], ClipSubject],
    slug: str = "",
) -> None:
    """Let stored clips of ``model`` (with ``file``, ``sha256``, ``duration_s`` and ``sensor``)
    be played through this path, for users ``may_play(user=..., clip=...)`` allows. With a
    ``slug``, pressing play is ``POST evidence:kind_clip_playback(slug, clip id)``."""
    label = model._meta.label_lower
    _CLIP_KINDS[label] = ClipKind(may_play=may_play, subject=subject, model=model)
    if slug:
        _CLIP_KIND_SLUGS[slug] = label


def registered_clip_get(*, slug: str, clip_id: int) -> models.Model | None:
    """The stored clip of the kind registered as ``slug``, or None (no such kind or clip).
    Who may play it is decided by ``clip_playback_authorize``."""
    label = _CLIP_KIND_SLUGS.get(slug)
    model = _CLIP_KINDS[label].model if label else None
    if model is None:
        return None
    return model._default_manager.select_related("sensor").filter(pk=clip_id).first()


def _incident_clip_subject(clip: AudioClip) -> ClipSubject:
    incident = clip.incident
    return ClipSubject(
        agency=incident.agency,
        reference=incident.reference,
        details={"incident": incident.reference, "incident_id": incident.pk},
    )


register_clip_kind(AudioClip, may_play=may_play_incident_clip, subject=_incident_clip_subject)


def _clip_kind(clip: models.Model) -> ClipKind:
    kind = _CLIP_KINDS.get(clip._meta.label_lower)
    if kind is None:
        raise ClipNotPlayable("No such clip.")
    return kind


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clip_event(*, action: str, user, clip, request=None) -> AuditEvent:
    """An audit event about ``clip`` in the audit log of the clip's agency."""
    subject = _clip_kind(clip).subject(clip)
    return record_event(
        action=action,
        actor=user,
        agency=subject.agency,
        target=clip,
        target_label=f"{subject.reference} {clip.sensor.serial_number}",
        request=request,
        details={
            **subject.details,
            "clip_id": clip.pk,
            "sensor": clip.sensor.serial_number,
            "sha256": clip.sha256,
            "duration_s": round(clip.duration_s, 3),
        },
    )


def _verified_bytes(*, user, clip, request=None) -> bytes:
    """The stored file, exactly as uploaded; a changed file is logged and never played."""
    with clip.file.open("rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != clip.sha256:
        _clip_event(action="audio.integrity_failed", user=user, clip=clip, request=request)
        raise ClipIntegrityError(
            "This clip's file does not match the checksum recorded when it was stored; "
            "it is not played. The event was logged."
        )
    return data


def record_audio_playback(*, user, clip, request=None) -> AuditEvent:
    """The audit record of one playback of ``clip`` by ``user`` (``audio.playback``), in the
    audit log of the clip's agency. Called once per playback, by ``clip_playback_authorize``."""
    return _clip_event(action="audio.playback", user=user, clip=clip, request=request)


@dataclass(frozen=True)
class PlaybackTicket:
    token: str  # goes into the playback URL; only its digest is stored
    grant: PlaybackGrant


def clip_playback_authorize(
    *, user, clip, session_key: str = "", request=None, now: dt.datetime | None = None
) -> PlaybackTicket:
    """Authorise one playback of ``clip`` by ``user``: audited here, once.

    Raises ``ClipNotPlayable`` (the user may not play it) or ``ClipIntegrityError`` (the
    file changed since it was stored; logged as ``audio.integrity_failed``).
    """
    now = now or timezone.now()
    kind = _clip_kind(clip)
    if not kind.may_play(user=user, clip=clip):
        raise ClipNotPlayable("No such clip.")
    _verified_bytes(user=user, clip=clip, request=request)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        event = record_audio_playback(user=user, clip=clip, request=request)
        grant = PlaybackGrant.objects.create(
            token_sha256=_token_digest(token),
            user=user,
            session_key=session_key or "",
            clip_type=ContentType.objects.get_for_model(clip),
            clip_id=clip.pk,
            audit_event=event,
            issued_at=now,
            expires_at=now + dt.timedelta(seconds=PLAYBACK_TTL_S),
        )
    cutoff = now - dt.timedelta(seconds=SPENT_GRANTS_KEPT_S)
    PlaybackGrant.objects.filter(expires_at__lt=cutoff).delete()
    return PlaybackTicket(token=token, grant=grant)


def parse_byte_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte (inclusive) of a single ``bytes=`` range, or None for the
    whole file (no header, another unit, several ranges or bad syntax: RFC 9110 §14.2
    lets a server ignore those). Raises ``RangeNotSatisfiable`` for a range past the end."""
    header = header.strip()
    if not header.startswith("bytes=") or "," in header:
        return None
    first_text, dash, last_text = (part.strip() for part in header[6:].partition("-"))
    if not dash or not (first_text or last_text):
        return None
    if any(text and not text.isdigit() for text in (first_text, last_text)):
        return None
    if not first_text:  # suffix: the last N bytes
        length = int(last_text)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable("An empty suffix range.", size=size)
        return max(size - length, 0), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable(f"The clip has {size} bytes.", size=size)
    return first, min(last, size - 1)


@dataclass(frozen=True)
class PlaybackBytes:
    data: bytes  # the requested bytes
    first: int
    last: int  # inclusive
    size: int  # of the whole file
    partial: bool  # a Range was honoured (206)


def playback_fetch(
    *,
    token: str,
    user,
    session_key: str = "",
    range_header: str = "",
    request=None,
    now: dt.datetime | None = None,
) -> PlaybackBytes:
    """The bytes one request of an authorised playback asks for (no audit event: the
    playback was audited when authorised). Raises ``ClipNotPlayable`` (unknown token,
    another user or session, permission since lost), ``PlaybackGone`` (expired, a second
    request from byte 0, or the fetch budget spent), ``RangeNotSatisfiable`` or
    ``ClipIntegrityError``."""
    now = now or timezone.now()
    grant = (
        PlaybackGrant.objects.select_related("clip_type").filter(token_sha256=_token_digest(token))
    ).first()
    if grant is None or grant.user_id != getattr(user, "pk", None):
        raise ClipNotPlayable("No such playback.")
    if grant.session_key and grant.session_key != session_key:
        raise ClipNotPlayable("No such playback.")
    if now >= grant.expires_at:
        raise PlaybackGone("This playback has expired; press play again (a new, logged playback).")
    clip = grant.clip
    kind = _clip_kind(clip) if clip is not None else None
    if kind is None or not kind.may_play(user=user, clip=clip):
        raise ClipNotPlayable("No such playback.")
    data = _verified_bytes(user=user, clip=clip, request=request)
    span = parse_byte_range(range_header, len(data))
    first, last = span if span is not None else (0, len(data) - 1)
    opened_now = PlaybackGrant.objects.filter(pk=grant.pk, opened_at__isnull=True).update(
        opened_at=now
    )
    if first == 0 and not opened_now:
        raise PlaybackGone(
            "This playback was already fetched; press play again (a new, logged playback)."
        )
    piece = data[first : last + 1]
    budget = PLAYBACK_MAX_COPIES * len(data) - len(piece)
    counted = PlaybackGrant.objects.filter(pk=grant.pk, bytes_served__lte=budget).update(
        fetches=F("fetches") + 1, bytes_served=F("bytes_served") + len(piece)
    )
    if not counted:
        raise PlaybackGone(
            "This playback has fetched the clip already; press play again (a new, logged playback)."
        )
    return PlaybackBytes(
        data=piece, first=first, last=last, size=len(data), partial=span is not None
    )
