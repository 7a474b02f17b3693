"""A migration operation that makes a table append-only in the database itself.

PostgreSQL: a row trigger refuses every UPDATE and DELETE, except the one change Django
makes when an account is deleted (``actor_id`` set to NULL, everything else unchanged).
SQLite (embedded mode): a trigger refuses every UPDATE that changes anything but
``actor_id``; DELETE is left to the model there, because Django's test ``flush`` empties
tables with DELETE on SQLite (TRUNCATE on PostgreSQL, which row triggers ignore).
"""

from __future__ import annotations

from django.db import migrations


def _postgres_forward(*, table: str, what: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.actor_id IS NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '{what} append-only: % of {table} refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {table}_append_only();
"""


def _postgres_backward(*, table: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
DROP FUNCTION IF EXISTS {table}_append_only();
"""


def _sqlite_forward(*, table: str, what: str, columns: tuple[str, ...]) -> str:
    unchanged = "\n".join(f"    AND NEW.{column} IS OLD.{column}" for column in columns)
    return f"""
CREATE TRIGGER {table}_no_update
BEFORE UPDATE ON {table}
WHEN NOT (
    NEW.actor_id IS NULL
{unchanged}
)
BEGIN
    SELECT RAISE(ABORT, '{what} append-only: UPDATE of {table} refused');
END;
"""


def append_only(*, table: str, what: str, columns: tuple[str, ...]) -> migrations.RunPython:
    """``what`` starts the error ("audit events are"); ``columns``: all but ``actor_id``."""

    def forwards(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(_postgres_forward(table=table, what=what), params=None)
        elif vendor == "sqlite":
            sql = _sqlite_forward(table=table, what=what, columns=columns)
            schema_editor.execute(sql, params=None)

    def backwards(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(_postgres_backward(table=table), params=None)
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update;", params=None)

    return migrations.RunPython(forwards, backwards)
