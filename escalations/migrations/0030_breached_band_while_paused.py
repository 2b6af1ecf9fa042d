"""A paused case that is breached now sits in the work queues' breached band.

"Breached now" (sla.clock.breached_clocks) counts a recorded breach until its promise is
kept, and a pause keeps no promise; the band (``queue_rank``) is stored from that rule by
every service and the sweep, and the API's ``?breached=`` filter reads it. Cases paused
with a breach were stored in the waiting band: each is moved to the breached band, with a
history row by the system user (the sweep writes this bookkeeping the same way, without
bumping the case's version)."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

# The pure rule the services use (no ORM, no settings).
from escalations.sla.clock import QueueRank, breached_clocks

OPEN = ("new", "acknowledged", "investigating", "waiting_on_customer", "waiting_on_third_party")
REASON = "Breached while paused: in the breached band"


def _system_user(apps):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    user, _ = User.objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "System", "last_name": "(automatic)", "password": "!"},
    )
    return user


def breached_paused_cases_to_the_breached_band(apps, schema_editor):
    Incident = apps.get_model("escalations", "Incident")
    HistoricalIncident = apps.get_model("escalations", "HistoricalIncident")
    candidates = Incident.objects.filter(status__in=OPEN, paused_since__isnull=False).exclude(
        queue_rank=QueueRank.BREACHED
    )
    moved = []
    for incident in candidates.iterator():
        breached = breached_clocks(
            is_open=True,
            acknowledged=incident.acknowledged_at is not None,
            ack_breached=incident.ack_breached_at is not None,
            resolve_breached=incident.resolve_breached_at is not None,
            update_breached=incident.update_breached_at is not None,
        )
        if breached:
            incident.queue_rank = QueueRank.BREACHED
            incident.save(update_fields=["queue_rank"])
            moved.append(incident)
    if not moved:
        return
    actor = _system_user(apps)
    now = timezone.now()
    history = []
    for incident in moved:
        values = {field.attname: getattr(incident, field.attname) for field in incident._meta.concrete_fields}
        values.pop("updated_at", None)  # not kept in the case's history
        history.append(
            HistoricalIncident(
                **values, history_date=now, history_type="~", history_user_id=actor.pk, history_change_reason=REASON
            )
        )
    HistoricalIncident.objects.bulk_create(history)


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0029_rca_due_dates"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # Forwards only: the next change to each case recomputes its band from the rule anyway.
    operations = [migrations.RunPython(breached_paused_cases_to_the_breached_band, migrations.RunPython.noop)]
