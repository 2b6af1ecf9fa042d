"""The escape valves' permissions for the roles, and the old chain rule's
acknowledgements carried over to the new one.

Roles: Policy Admins edit the service-credit rules; Managers read them and the requests
(escalations.roles holds the current table).

Acknowledgements.
Before migration 0020 a rung was never acknowledged: acknowledging the case did not stop
the chain. Under the new rule an unacknowledged rung climbs after the next rung's wait,
so every open case that was already acknowledged would start climbing on deploy. Its
current rung is marked acknowledged — by whoever acknowledged the case, when they did
(or when the rung was raised, if that came later), as acknowledging the case does now
(``services.chain.incident_rung_acknowledge``) — and its wait is cleared. History rows
name the system user and say why.

``next_check_at`` is left as it is: when it was the cleared wait, the sweep finds
nothing due for the case at that time and recomputes it."""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.models import F
from django.utils import timezone

OPEN_STATUSES = ["new", "acknowledged", "investigating", "waiting_on_customer", "waiting_on_third_party"]
REASON = "Case acknowledged under the old chain rule: its current rung counts as acknowledged"
BATCH = 1000
# The roles' new permissions as of this migration.
ADDED = {
    "Managers": ["view_servicecreditrule", "view_executiveescalationrequest", "view_servicecreditrequest"],
    "Policy Admins": [
        "view_servicecreditrule",
        "add_servicecreditrule",
        "change_servicecreditrule",
        "delete_servicecreditrule",
    ],
}


def roles_forwards(apps, schema_editor):
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


def _history_row(historical, obj, *, at, user_id):
    names = {field.attname for field in obj._meta.concrete_fields}
    values = {
        field.attname: getattr(obj, field.attname)
        for field in historical._meta.concrete_fields
        if field.attname in names
    }
    return historical(
        **values, history_date=at, history_type="~", history_user_id=user_id, history_change_reason=REASON
    )


def forwards(apps, schema_editor):
    Escalation = apps.get_model("escalations", "Escalation")
    Incident = apps.get_model("escalations", "Incident")
    HistoricalEscalation = apps.get_model("escalations", "HistoricalEscalation")
    HistoricalIncident = apps.get_model("escalations", "HistoricalIncident")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    system, _ = User.objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "System", "last_name": "(automatic)"},
    )
    now = timezone.now()
    rungs = (
        Escalation.objects.filter(
            incident__status__in=OPEN_STATUSES,
            incident__acknowledged_at__isnull=False,
            acknowledged_at__isnull=True,
            level=F("incident__escalation_level"),
        )
        .select_related("incident")
        .order_by("pk")
    )
    batch = []
    for rung in rungs.iterator(chunk_size=BATCH):
        batch.append(rung)
        if len(batch) >= BATCH:
            _carry_over(batch, Escalation, Incident, HistoricalEscalation, HistoricalIncident, now=now, system=system)
            batch = []
    if batch:
        _carry_over(batch, Escalation, Incident, HistoricalEscalation, HistoricalIncident, now=now, system=system)


def _carry_over(rungs, Escalation, Incident, HistoricalEscalation, HistoricalIncident, *, now, system):
    incidents = []
    for rung in rungs:
        incident = rung.incident
        rung.acknowledged_at = max(incident.acknowledged_at, rung.created_at)
        rung.acknowledged_by_id = incident.acknowledged_by_id or system.pk
        if incident.next_escalation_at is not None:
            incident.next_escalation_at = None
            incidents.append(incident)
    Escalation.objects.bulk_update(rungs, ["acknowledged_at", "acknowledged_by"])
    HistoricalEscalation.objects.bulk_create(
        [_history_row(HistoricalEscalation, rung, at=now, user_id=system.pk) for rung in rungs]
    )
    if incidents:
        Incident.objects.bulk_update(incidents, ["next_escalation_at"])
        HistoricalIncident.objects.bulk_create(
            [_history_row(HistoricalIncident, incident, at=now, user_id=system.pk) for incident in incidents]
        )


class Migration(migrations.Migration):
    dependencies = [("escalations", "0022_valves")]

    operations = [
        migrations.RunPython(roles_forwards, migrations.RunPython.noop),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
