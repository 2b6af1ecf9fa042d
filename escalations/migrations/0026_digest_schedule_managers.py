"""Managers edit the weekly digest's schedule (escalations.roles holds the current table)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ADDED = {"Managers": ["view_digestschedule", "add_digestschedule", "change_digestschedule"]}


def forwards(apps, schema_editor):
    # Permissions are normally created after all migrations ran; make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ADDED.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="escalations", codename__in=codenames))


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ADDED.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="escalations", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [("escalations", "0025_breach_causes")]

    operations = [migrations.RunPython(forwards, backwards)]
