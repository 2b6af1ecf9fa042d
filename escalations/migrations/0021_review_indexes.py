from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0020_escalation_acknowledged"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="resolvecycle",
            index=models.Index(fields=["ended_at"], name="cycle_ended_idx"),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(fields=["resolved_at"], name="incident_resolved_idx"),
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
