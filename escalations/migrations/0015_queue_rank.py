"""Work queues sort by band (breached, warning, running, waiting or not started) before
the nearest deadline: Incident.queue_rank, filled for existing cases from the recorded
breach and warning markers, and the queue indexes rebuilt on it. Built concurrently, so a
large case table keeps taking writes meanwhile."""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models

OPEN = ("new", "acknowledged", "investigating", "waiting_on_customer", "waiting_on_third_party")
HELP = "Work-queue band: 0 breached, 1 warning, 2 running, 3 waiting or not started, 4 closed."

# The same bands as escalations.sla.queue_rank, in SQL, for the rows already stored.
FILL = """
UPDATE escalations_incident SET queue_rank = CASE
    WHEN status NOT IN ('new', 'acknowledged', 'investigating', 'waiting_on_customer', 'waiting_on_third_party')
        THEN 4
    WHEN paused_since IS NOT NULL OR clock_started_at IS NULL THEN 3
    WHEN (ack_breached_at IS NOT NULL AND acknowledged_at IS NULL)
        OR resolve_breached_at IS NOT NULL OR update_breached_at IS NOT NULL THEN 0
    WHEN (ack_warned_at IS NOT NULL AND acknowledged_at IS NULL)
        OR resolve_warned_at IS NOT NULL OR update_warned_at IS NOT NULL THEN 1
    ELSE 2
END
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("escalations", "0014_heartbeat_source_help"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalincident",
            name="queue_rank",
            field=models.PositiveSmallIntegerField(default=3, help_text=HELP),
        ),
        migrations.AddField(
            model_name="incident",
            name="queue_rank",
            field=models.PositiveSmallIntegerField(default=3, help_text=HELP),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        RemoveIndexConcurrently(model_name="incident", name="incident_queue_mine_idx"),
        RemoveIndexConcurrently(model_name="incident", name="incident_queue_team_idx"),
        RemoveIndexConcurrently(model_name="incident", name="incident_queue_idx"),
        AddIndexConcurrently(
            model_name="incident",
            index=models.Index(
                condition=models.Q(("status__in", OPEN)),
                fields=["queue_rank", "next_deadline_at", "severity", "-id"],
                include=("team", "created_by", "stage_dri", "commander"),
                name="incident_queue_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="incident",
            index=models.Index(
                condition=models.Q(("status__in", OPEN)),
                fields=["stage_dri", "queue_rank", "next_deadline_at"],
                name="incident_queue_mine_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="incident",
            index=models.Index(
                condition=models.Q(("status__in", OPEN)),
                fields=["team", "queue_rank", "next_deadline_at"],
                name="incident_queue_team_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="incident",
            index=models.Index(fields=["queue_rank", "next_deadline_at", "severity", "-id"], name="incident_rank_idx"),
        ),
    ]
