"""Make audit events append-only in the database itself, not only in the ORM.

PostgreSQL: a row trigger refuses every UPDATE and DELETE of ``audit_auditevent``.
SQLite (embedded mode): a trigger refuses every UPDATE. DELETE is left to the model on
SQLite, because Django's ``flush`` (used between transactional tests) empties tables
with DELETE there, whereas on PostgreSQL it uses TRUNCATE, which row triggers ignore.

The one change allowed is the one Django makes when an account is deleted: the event's
``actor`` is set to NULL while everything else, including ``actor_email``, stays as it was.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.actor_id IS NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % of audit_auditevent refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
"""

POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_append_only();
"""

SQLITE_FORWARD = """
CREATE TRIGGER audit_auditevent_no_update
BEFORE UPDATE ON audit_auditevent
WHEN NOT (
    NEW.actor_id IS NULL
    AND NEW.id IS OLD.id
    AND NEW.occurred_at IS OLD.occurred_at
    AND NEW.actor_email IS OLD.actor_email
    AND NEW.agency_id IS OLD.agency_id
    AND NEW.action IS OLD.action
    AND NEW.target_type IS OLD.target_type
    AND NEW.target_id IS OLD.target_id
    AND NEW.target_label IS OLD.target_label
    AND NEW.ip_address IS OLD.ip_address
    AND NEW.user_agent IS OLD.user_agent
    AND NEW.details IS OLD.details
)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only: UPDATE of audit_auditevent refused');
END;
"""

SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS audit_auditevent_no_update;"


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD, params=None)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
