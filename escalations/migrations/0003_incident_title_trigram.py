"""Search by title over hundreds of thousands of cases: a trigram GIN index on
UPPER(title) serves Django's `title__icontains` (UPPER(title) LIKE UPPER('%…%')) on
PostgreSQL.

CREATE EXTENSION needs a role allowed to create it (superuser or the database owner with
pg_trgm trusted, as on PostgreSQL 13+)."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS incident_title_trgm_idx ON escalations_incident USING gin (UPPER(title) gin_trgm_ops)",
]
BACKWARD = ["DROP INDEX IF EXISTS incident_title_trgm_idx"]


def _run(statements):
    def run(apps, schema_editor):
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("escalations", "0002_roles_and_system_user")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
