"""Make audit events append-only in the database itself, not only in the ORM.

The one change allowed is the one Django makes when an account is deleted: the event's
``actor`` is set to NULL while everything else, including ``actor_email``, stays as it was.
See ``apps.audit.append_only`` for the triggers on PostgreSQL and SQLite.
"""

from django.db import migrations

from apps.audit.append_only import append_only


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        append_only(
            table="audit_auditevent",
            what="audit events are",
            columns=(
                "id",
                "occurred_at",
                "actor_email",
                "agency_id",
                "action",
                "target_type",
                "target_id",
                "target_label",
                "ip_address",
                "user_agent",
                "details",
            ),
        )
    ]
