"""Create the five role groups with their permissions, and the named system user that
Celery tasks act as."""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    # Permissions are normally created after all migrations ran; make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    from escalations.roles import sync_roles

    sync_roles(Group=apps.get_model("auth", "Group"), Permission=apps.get_model("auth", "Permission"))
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    User.objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "System", "last_name": "(automatic)", "password": "!"},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
