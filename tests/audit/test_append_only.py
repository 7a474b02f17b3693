"""Audit events cannot be changed: not through the ORM, and not with raw SQL either."""

import pytest
from django.db import DatabaseError, connection, transaction

from apps.audit.models import AuditEvent, AuditImmutableError
from apps.audit.services import record_event
from tests.factories import AgencyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    agency = AgencyFactory()
    actor = UserFactory(super_user=True, agency=agency)
    return record_event(
        action="user.create", actor=actor, agency=agency, target=actor, details={"k": "v"}
    )


def test_orm_refuses_update_and_delete(event):
    event.action = "tampered"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        event.delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "user.create"


def _raw(sql, params):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_raw_sql_update_is_refused_by_the_database(event):
    for sql in (
        "UPDATE audit_auditevent SET action = 'tampered' WHERE id = %s",
        "UPDATE audit_auditevent SET details = '{}' WHERE id = %s",
        "UPDATE audit_auditevent SET actor_email = 'someone@else' WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            _raw(sql, [event.pk])
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.action == "user.create"
    assert stored.details == {"k": "v"}


@pytest.mark.postgres
def test_raw_sql_delete_is_refused_by_postgresql(event):
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_deleting_the_actor_keeps_the_event_and_its_email(event):
    actor_email = event.actor_email
    event.actor.delete()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor_id is None
    assert stored.actor_email == actor_email
    assert stored.action == "user.create"


@pytest.mark.django_db(transaction=True)
def test_transactional_tests_can_still_flush_a_table_with_events():
    """Between transactional tests Django empties every table; the trigger must allow it."""
    record_event(action="test.flush", details={})
    assert AuditEvent.objects.filter(action="test.flush").count() == 1
