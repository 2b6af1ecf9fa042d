"""Per-case access: the permissions that say who sees every case, who may reassign
owners and start drills, the integrations' intake-only role, and the teams' opt-in to
open reading."""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

# The roles' new permissions as of this migration (escalations.roles holds the current table).
ADDED = {
    "Duty Managers": ["view_all_incidents", "start_drill"],
    "Managers": ["view_all_incidents", "reassign_incident", "start_drill"],
    "Integrations": ["submit_intake"],
}
# What integration_create used to grant directly, before integrations had a role.
OLD_INTEGRATION_PERMISSIONS = ("add_incident", "view_incident")


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("auth", "User")
    for name, codenames in ADDED.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="escalations", codename__in=codenames))
    # Existing integration accounts (direct permissions, no role): intake only from now on.
    old = Permission.objects.filter(content_type__app_label="escalations", codename__in=OLD_INTEGRATION_PERMISSIONS)
    integrations = Group.objects.get(name="Integrations")
    for user in User.objects.filter(groups__isnull=True, user_permissions__in=old).distinct():
        user.user_permissions.remove(*old)
        user.groups.add(integrations)


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0009_team_webhook_secret"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="incident",
            options={
                "ordering": ["-id"],
                "permissions": [
                    ("downgrade_severity", "Can set a severity below the trigger floor (Manager)"),
                    ("view_review", "Can see the weekly review and handoff audit"),
                    ("approve_escalation", "Can approve executive escalations and service credits"),
                    ("view_all_incidents", "Can see every team's cases (Duty Manager, Manager)"),
                    ("reassign_incident", "Can name a case's owners without being one (Manager)"),
                    ("start_drill", "Can open drill cases, whose pages are suppressed (Duty Manager, Manager)"),
                    ("submit_intake", "Can send signals to the intake endpoint (integrations)"),
                ],
            },
        ),
        migrations.AddField(
            model_name="historicalteam",
            name="open_read_access",
            field=models.BooleanField(
                default=False,
                help_text="Every member of staff may read this team's cases; changing them still needs access.",
                verbose_name="open to all staff (read only)",
            ),
        ),
        migrations.AddField(
            model_name="team",
            name="open_read_access",
            field=models.BooleanField(
                default=False,
                help_text="Every member of staff may read this team's cases; changing them still needs access.",
                verbose_name="open to all staff (read only)",
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
