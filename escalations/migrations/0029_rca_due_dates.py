"""Every RCA gets a due date. An RCA without one (started on its page before its case
was resolved, which gave none, and kept as it was by the resolve) shows "Due —" and is
never overdue or chased. Each is made due the policy's business days after the case's
resolve or, while the case is not resolved, after the RCA was first saved; the case's
"RCA scheduled" items tick, as saving an RCA does (services.postmortems.postmortem_save).
History rows and timeline events are written by the system user."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

# The pure maths the service uses (no ORM, no settings): the calendar comes from the
# historical models below.
from escalations.sla.deadlines import WorkingDays, business_days_after

REASON = "Due date given to an RCA that had none"
FACT = "rca_scheduled"
FACT_LABEL = "an rca is scheduled"  # ChecklistFact.RCA_SCHEDULED's label, lower case


def _system_user(apps):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    user, _ = User.objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "System", "last_name": "(automatic)", "password": "!"},
    )
    return user


def _history_row(History, instance, *, at, actor, kind: str, reason: str = ""):
    values = {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}
    return History(
        **values, history_date=at, history_type=kind, history_user_id=actor.pk, history_change_reason=reason or None
    )


def _working_days(calendar, holidays) -> WorkingDays:
    # As services.postmortems.rca_working_days: the calendar's weekdays in its zone, less
    # its holidays; a 24x7 calendar's days end at midnight.
    days = tuple(sorted({int(p) for p in calendar.workdays.split(",") if p.strip()}))
    return WorkingDays(
        tz=calendar.timezone,
        workdays=days or (0, 1, 2, 3, 4),
        holidays=frozenset(holidays),
        day_end=None if calendar.is_24x7 else calendar.day_end,
    )


def date_undated_rcas(apps, schema_editor):
    Postmortem = apps.get_model("escalations", "Postmortem")
    HistoricalPostmortem = apps.get_model("escalations", "HistoricalPostmortem")
    Holiday = apps.get_model("escalations", "Holiday")
    ChecklistItem = apps.get_model("escalations", "ChecklistItem")
    HistoricalChecklistItem = apps.get_model("escalations", "HistoricalChecklistItem")
    CaseEvent = apps.get_model("escalations", "CaseEvent")
    HistoricalCaseEvent = apps.get_model("escalations", "HistoricalCaseEvent")

    undated = list(Postmortem.objects.filter(due_at__isnull=True).select_related("incident__policy__calendar"))
    if not undated:
        return
    actor = _system_user(apps)
    now = timezone.now()
    created = dict(
        HistoricalPostmortem.objects.filter(id__in=[pm.pk for pm in undated], history_type="+").values_list(
            "id", "history_date"
        )
    )
    calendars = {pm.incident.policy.calendar_id for pm in undated}
    holidays: dict[int, list] = {pk: [] for pk in calendars}
    for calendar_id, day in Holiday.objects.filter(calendar_id__in=calendars).values_list("calendar_id", "date"):
        holidays[calendar_id].append(day)

    history = []
    for pm in undated:
        incident = pm.incident
        policy = incident.policy
        start = incident.resolved_at or created.get(pm.pk) or now
        pm.due_at = business_days_after(
            start, policy.rca_due_business_days, _working_days(policy.calendar, holidays[policy.calendar_id])
        )
        pm.save(update_fields=["due_at"])
        history.append(_history_row(HistoricalPostmortem, pm, at=now, actor=actor, kind="~", reason=REASON))
    HistoricalPostmortem.objects.bulk_create(history)

    # The RCA is scheduled now: its items tick, as checklist_facts_tick does when an RCA
    # is saved, each with its timeline event.
    items = list(
        ChecklistItem.objects.filter(
            checklist__incident_id__in=[pm.incident_id for pm in undated], fact=FACT, done_at__isnull=True
        )
        .select_related("checklist")
        .order_by("checklist_id", "order")
    )
    item_history, events = [], []
    for item in items:
        item.done_at, item.done_by_id = now, actor.pk
        item.save(update_fields=["done_at", "done_by"])
        item_history.append(_history_row(HistoricalChecklistItem, item, at=now, actor=actor, kind="~"))
        events.append(
            CaseEvent(
                incident_id=item.checklist.incident_id,
                kind="checklist_item_done",
                at=now,
                actor_id=actor.pk,
                old={},
                new={"item": item.text, "done": True, "fact": FACT},
                detail=f"{item.text} (ticked by the fact: {FACT_LABEL})"[:500],
            )
        )
    HistoricalChecklistItem.objects.bulk_create(item_history)
    events = CaseEvent.objects.bulk_create(events)
    HistoricalCaseEvent.objects.bulk_create(
        [_history_row(HistoricalCaseEvent, event, at=now, actor=actor, kind="+") for event in events]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0028_security_limits_and_keys"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # Forwards only: a due date given is a deadline people were told about.
    operations = [migrations.RunPython(date_undated_rcas, migrations.RunPython.noop)]
