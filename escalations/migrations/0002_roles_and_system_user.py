"""Create the five role groups with their permissions, and the named system user that
Celery tasks act as.

The role table is frozen here as it stood when this migration was written: later changes
to escalations/roles.py are applied by `load_playbook` (or a later migration), so this
migration keeps working on a fresh database whatever the table becomes."""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {'CS Agents': ['view_customer', 'view_team', 'view_channel', 'view_shift', 'view_severitypolicy',
               'view_escalationstep', 'view_triggerrule', 'view_soptemplate', 'view_soptemplateitem',
               'view_businesscalendar', 'view_holiday', 'view_incident', 'change_incident', 'view_clockpause',
               'add_clockpause', 'change_clockpause', 'view_customerupdate', 'add_customerupdate', 'view_checklist',
               'view_checklistitem', 'change_checklistitem', 'view_handoffpacket', 'add_handoffpacket',
               'change_handoffpacket', 'view_caseevent', 'view_breach', 'view_slawarning', 'view_escalation',
               'view_resolvecycle', 'view_postmortem', 'view_postmortemactionitem', 'add_incident'],
 'Duty Managers': ['view_customer', 'view_team', 'view_channel', 'view_shift', 'view_severitypolicy',
                   'view_escalationstep', 'view_triggerrule', 'view_soptemplate', 'view_soptemplateitem',
                   'view_businesscalendar', 'view_holiday', 'view_incident', 'change_incident', 'view_clockpause',
                   'add_clockpause', 'change_clockpause', 'view_customerupdate', 'add_customerupdate',
                   'view_checklist', 'view_checklistitem', 'change_checklistitem', 'view_handoffpacket',
                   'add_handoffpacket', 'change_handoffpacket', 'view_caseevent', 'view_breach', 'view_slawarning',
                   'view_escalation', 'view_resolvecycle', 'view_postmortem', 'view_postmortemactionitem',
                   'add_incident', 'view_review', 'view_notification', 'view_sweepheartbeat', 'change_shift',
                   'add_shift'],
 'Engineers': ['view_customer', 'view_team', 'view_channel', 'view_shift', 'view_severitypolicy',
               'view_escalationstep', 'view_triggerrule', 'view_soptemplate', 'view_soptemplateitem',
               'view_businesscalendar', 'view_holiday', 'view_incident', 'change_incident', 'view_clockpause',
               'add_clockpause', 'change_clockpause', 'view_customerupdate', 'add_customerupdate', 'view_checklist',
               'view_checklistitem', 'change_checklistitem', 'view_handoffpacket', 'add_handoffpacket',
               'change_handoffpacket', 'view_caseevent', 'view_breach', 'view_slawarning', 'view_escalation',
               'view_resolvecycle', 'view_postmortem', 'view_postmortemactionitem', 'add_postmortem',
               'change_postmortem', 'add_postmortemactionitem', 'change_postmortemactionitem'],
 'Managers': ['view_customer', 'view_team', 'view_channel', 'view_shift', 'view_severitypolicy',
              'view_escalationstep', 'view_triggerrule', 'view_soptemplate', 'view_soptemplateitem',
              'view_businesscalendar', 'view_holiday', 'view_incident', 'change_incident', 'view_clockpause',
              'add_clockpause', 'change_clockpause', 'view_customerupdate', 'add_customerupdate', 'view_checklist',
              'view_checklistitem', 'change_checklistitem', 'view_handoffpacket', 'add_handoffpacket',
              'change_handoffpacket', 'view_caseevent', 'view_breach', 'view_slawarning', 'view_escalation',
              'view_resolvecycle', 'view_postmortem', 'view_postmortemactionitem', 'add_incident', 'view_review',
              'downgrade_severity', 'approve_escalation', 'change_breach', 'view_notification', 'view_sweepheartbeat',
              'add_postmortem', 'change_postmortem', 'add_postmortemactionitem', 'change_postmortemactionitem',
              'view_historicalincident', 'auth.view_user'],
 'Policy Admins': ['view_customer', 'view_team', 'view_channel', 'view_shift', 'view_severitypolicy',
                   'view_escalationstep', 'view_triggerrule', 'view_soptemplate', 'view_soptemplateitem',
                   'view_businesscalendar', 'view_holiday', 'view_incident', 'view_caseevent', 'view_breach',
                   'view_notification', 'view_sweepheartbeat', 'add_severitypolicy', 'change_severitypolicy',
                   'delete_severitypolicy', 'add_escalationstep', 'change_escalationstep', 'delete_escalationstep',
                   'add_triggerrule', 'change_triggerrule', 'delete_triggerrule', 'add_soptemplate',
                   'change_soptemplate', 'delete_soptemplate', 'add_soptemplateitem', 'change_soptemplateitem',
                   'delete_soptemplateitem', 'add_team', 'change_team', 'delete_team', 'add_shift', 'change_shift',
                   'delete_shift', 'add_channel', 'change_channel', 'delete_channel', 'add_businesscalendar',
                   'change_businesscalendar', 'delete_businesscalendar', 'add_holiday', 'change_holiday',
                   'delete_holiday', 'add_customer', 'change_customer', 'delete_customer', 'add_staffprofile',
                   'change_staffprofile', 'delete_staffprofile', 'change_notification', 'auth.view_user']}


def forwards(apps, schema_editor):
    # Permissions are normally created after all migrations ran; make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    from escalations.roles import sync_roles

    sync_roles(
        Group=apps.get_model("auth", "Group"), Permission=apps.get_model("auth", "Permission"), table=ROLE_PERMISSIONS
    )
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
