from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0023_valves_roles_and_rungs"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReviewWeek",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "week_start",
                    models.DateTimeField(help_text="Monday 00:00 UTC of the ISO week.", unique=True),
                ),
                (
                    "version",
                    models.PositiveSmallIntegerField(help_text="escalations.review.ROLLUP_VERSION when computed."),
                ),
                (
                    "figures",
                    models.JSONField(help_text="Every figure family's values for the week, per severity."),
                ),
                ("computed_at", models.DateTimeField()),
            ],
            options={"ordering": ["-week_start"]},
        ),
        migrations.AddIndex(
            model_name="resolvecycle",
            index=models.Index(fields=["ended_at"], name="cycle_ended_idx"),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(
                fields=["resolved_at"],
                include=["reported_at", "is_drill", "severity", "sentiment", "arr_at_risk"],
                name="incident_resolved_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="caseevent",
            index=models.Index(
                condition=models.Q(("kind__in", ["severity_changed", "created"]), ("new__source", "manual")),
                fields=["at"],
                name="event_manual_severity_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="customerupdate",
            index=models.Index(fields=["posted_at"], name="update_posted_idx"),
        ),
        migrations.AddIndex(
            model_name="handoffpacket",
            index=models.Index(fields=["offered_at"], name="handoff_offered_idx"),
        ),
        migrations.AddIndex(
            model_name="escalation",
            index=models.Index(
                condition=models.Q(("is_executive", True)), fields=["created_at"], name="escalation_executive_idx"
            ),
        ),
    ]
