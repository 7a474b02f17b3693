"""Make incident history append-only in the database itself, not only in the ORM.

PostgreSQL: a row trigger refuses every UPDATE and DELETE of ``review_incidenthistory``,
except the one change Django makes when an account is deleted (``actor`` set to NULL
with everything else unchanged). SQLite (embedded mode): a trigger refuses every UPDATE
that changes anything but ``actor_id``; DELETE is left to the model there, because
Django's test ``flush`` empties tables with DELETE on SQLite (TRUNCATE on PostgreSQL,
which row triggers ignore). The same pattern as ``apps/audit/migrations/0002``.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION review_incidenthistory_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.actor_id IS NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'incident history is append-only: % of review_incidenthistory refused',
        TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER review_incidenthistory_append_only
    BEFORE UPDATE OR DELETE ON review_incidenthistory
    FOR EACH ROW EXECUTE FUNCTION review_incidenthistory_append_only();
"""

POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS review_incidenthistory_append_only ON review_incidenthistory;
DROP FUNCTION IF EXISTS review_incidenthistory_append_only();
"""

SQLITE_FORWARD = """
CREATE TRIGGER review_incidenthistory_no_update
BEFORE UPDATE ON review_incidenthistory
WHEN NOT (
    NEW.actor_id IS NULL
    AND NEW.id IS OLD.id
    AND NEW.incident_id IS OLD.incident_id
    AND NEW.kind IS OLD.kind
    AND NEW.actor_name IS OLD.actor_name
    AND NEW.created_at IS OLD.created_at
    AND NEW.before IS OLD.before
    AND NEW.after IS OLD.after
    AND NEW.reason IS OLD.reason
)
BEGIN
    SELECT RAISE(ABORT, 'incident history is append-only: UPDATE refused');
END;
"""

SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS review_incidenthistory_no_update;"


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
    dependencies = [("review", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
