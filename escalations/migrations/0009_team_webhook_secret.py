"""Each team's own webhook signing secret, in place of the one global key."""

import base64
import secrets

from django.db import migrations, models

import escalations.models.org


def give_each_team_a_secret(apps, schema_editor):
    # One secret per row: a field default would give every existing team the same one.
    Team = apps.get_model("escalations", "Team")
    for team in Team.objects.only("pk"):
        team.webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        team.save(update_fields=["webhook_secret"])


URL_HELP = (
    "Chat webhook (Slack-compatible JSON) for escalations. Its host must resolve to a public address, "
    "unless it is listed in WEBHOOK_ALLOWED_HOSTS."
)


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0008_history_without_foreign_key_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="team",
            name="webhook_secret",
            field=models.CharField(default="", editable=False, max_length=100),
            preserve_default=False,
        ),
        migrations.RunPython(give_each_team_a_secret, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="team",
            name="webhook_secret",
            field=models.CharField(default=escalations.models.org.webhook_secret_new, editable=False, max_length=100),
        ),
        migrations.AlterField(
            model_name="team",
            name="webhook_url",
            field=models.URLField(blank=True, help_text=URL_HELP),
        ),
        migrations.AlterField(
            model_name="historicalteam",
            name="webhook_url",
            field=models.URLField(blank=True, help_text=URL_HELP),
        ),
    ]
