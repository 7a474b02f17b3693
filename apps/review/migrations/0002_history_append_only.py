"""Make incident history append-only in the database itself, not only in the ORM.

The same triggers as the audit trail (``apps.audit.append_only``).
"""

from django.db import migrations

from apps.audit.append_only import append_only


class Migration(migrations.Migration):
    dependencies = [("review", "0001_initial")]

    operations = [
        append_only(
            table="review_incidenthistory",
            what="incident history is",
            columns=(
                "id",
                "incident_id",
                "kind",
                "actor_name",
                "created_at",
                "before",
                "after",
                "reason",
            ),
        )
    ]
