"""The work-queue index carries the access rule's columns (see Incident.Meta.indexes).
Built concurrently, so a large case table keeps taking writes while it is rebuilt."""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models

OPEN = ("new", "acknowledged", "investigating", "waiting_on_customer", "waiting_on_third_party")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("escalations", "0012_event_kind_missed"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="incident", name="incident_queue_idx"),
        AddIndexConcurrently(
            model_name="incident",
            index=models.Index(
                condition=models.Q(("status__in", OPEN)),
                fields=["next_deadline_at", "id"],
                include=("team", "created_by", "stage_dri", "commander"),
                name="incident_queue_idx",
            ),
        ),
    ]
