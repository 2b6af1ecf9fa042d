"""Breach causes become an editable list (BreachCauseOption, seeded here) that
Breach.cause points at by code; a breach records the suggested cause and who confirmed
the cause when; a case records when its severity last went up."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models
from django.utils import timezone

# The shipped list as it stood when this migration was written (later changes go in
# through services.breach_causes.breach_causes_load / load_playbook): the playbook's
# causes plus the earlier fixed choices, so existing rows stay valid.
CAUSES = [
    ("missing_skill", "Missing skill", "Nobody on the case knew how to move it forward."),
    ("waiting_on_engineering", "Waiting on engineering", "The fix was queued behind engineering work."),
    ("handoff_gap", "Handoff gap", "The case was lost between people or shifts; a handoff went unanswered."),
    ("wrong_severity", "Wrong severity", "The case ran under a lower severity than its facts called for."),
    ("tooling", "Tooling", "A tool, integration or page failed or slowed the work."),
    ("third_party", "Third-party delay", "A vendor or partner the case depended on was late."),
    ("capacity", "Team at capacity", "The team had more work than people on shift."),
    ("unassigned", "Nobody owned it", "No one held the case when the promise fell due."),
    ("complexity", "Technical complexity", "The problem was hard; the target was not enough for it."),
    ("other", "Other", "None of the above: say what in the note."),
]
# Earlier codes that became another: "Lost in a handoff" is the handoff gap. "unknown"
# (not yet reviewed) becomes no cause at all: the unreviewed state.
RENAMED = {"handoff": "handoff_gap"}
UNREVIEWED = "unknown"
# Back to the earlier fixed choices when unapplying.
OLD_CODES = {"unassigned", "capacity", "third_party", "handoff", "complexity", "other"}


def _system_user(apps):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    user, _ = User.objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "System", "last_name": "(automatic)", "password": "!"},
    )
    return user


def _immediate(schema_editor):
    # Rows updated here would leave deferred foreign-key checks pending, and PostgreSQL
    # refuses the ALTER TABLE that follows in the same transaction; check them now.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


# The roles' new permissions as of this migration (escalations.roles holds the current table).
READ_ROLES = ("CS Agents", "Duty Managers", "Engineers", "Managers", "Policy Admins")
ADDED = {
    **{name: ["view_breachcauseoption"] for name in READ_ROLES},
    "Policy Admins": ["view_breachcauseoption", "add_breachcauseoption", "change_breachcauseoption"],
}


def grant_permissions(apps, schema_editor):
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


def seed_causes(apps, schema_editor):
    Option = apps.get_model("escalations", "BreachCauseOption")
    History = apps.get_model("escalations", "HistoricalBreachCauseOption")
    _immediate(schema_editor)
    actor = _system_user(apps)
    now = timezone.now()
    for position, (code, label, description) in enumerate(CAUSES, start=1):
        option, created = Option.objects.get_or_create(
            code=code, defaults={"label": label, "description": description, "position": position * 10}
        )
        if created:
            History.objects.create(
                id=option.pk, code=code, label=label, description=description, is_active=True,
                position=option.position, history_date=now, history_type="+", history_user=actor,
            )  # fmt: skip


def map_causes(apps, schema_editor):
    """Reviewed breaches keep their cause (renamed where it was renamed) and get who
    reviewed it and when from their own history: its latest row, the review being the
    only change a breach ever took; the system user at detection when there is none.
    Unreviewed ones lose the "unknown" placeholder. History rows take the same codes."""
    Breach = apps.get_model("escalations", "Breach")
    History = apps.get_model("escalations", "HistoricalBreach")
    _immediate(schema_editor)
    known = set(apps.get_model("escalations", "BreachCauseOption").objects.values_list("code", flat=True))
    Breach.objects.filter(cause=UNREVIEWED).update(cause=None)
    History.objects.filter(cause=UNREVIEWED).update(cause=None)
    for old, new in RENAMED.items():
        Breach.objects.filter(cause=old).update(cause=new)
        History.objects.filter(cause=old).update(cause=new)
    system = None
    for breach in Breach.objects.filter(cause__isnull=False).iterator():
        if breach.cause not in known:  # no such code was ever offered; keep what it said
            breach.cause_note = f"{breach.cause_note}\n(cause was “{breach.cause}”)".strip()
            breach.cause = "other"
        last = (
            History.objects.filter(id=breach.pk).order_by("-history_date", "-history_id")
            .values_list("history_date", "history_user_id").first()
        )  # fmt: skip
        if last is not None and last[1] is not None:
            breach.cause_confirmed_at, breach.cause_confirmed_by_id = last
        else:
            system = system or _system_user(apps)
            breach.cause_confirmed_at, breach.cause_confirmed_by_id = breach.detected_at, system.pk
        breach.save(update_fields=["cause", "cause_note", "cause_confirmed_at", "cause_confirmed_by"])
    History.objects.exclude(cause__isnull=True).exclude(cause__in=known).update(cause="other")


def unmap_causes(apps, schema_editor):
    Breach = apps.get_model("escalations", "Breach")
    History = apps.get_model("escalations", "HistoricalBreach")
    _immediate(schema_editor)
    for model in (Breach, History):
        for old, new in RENAMED.items():
            model.objects.filter(cause=new).update(cause=old)
        model.objects.filter(cause__isnull=True).update(cause=UNREVIEWED)
        model.objects.exclude(cause__in=[*OLD_CODES, UNREVIEWED]).update(cause="other")


class Migration(migrations.Migration):
    dependencies = [
        ("escalations", "0024_weekly_review"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="BreachCauseOption",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "code",
                    models.SlugField(
                        help_text="Stable key of the cause in reports and the API; never change it.",
                        max_length=40,
                        unique=True,
                    ),
                ),
                ("label", models.CharField(max_length=80)),
                ("description", models.TextField(blank=True, help_text="When to pick this cause, for the reviewer.")),
                (
                    "is_active",
                    models.BooleanField(
                        default=True,
                        help_text="Only active causes can be chosen; breaches that have one keep it.",
                        verbose_name="active",
                    ),
                ),
                (
                    "position",
                    models.PositiveSmallIntegerField(default=100, help_text="Order in the lists (lowest first)."),
                ),
            ],
            options={
                "verbose_name": "breach cause",
                "ordering": ["position", "label"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("code", "unknown"), _negated=True), name="breach_cause_code_not_unknown"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="HistoricalBreachCauseOption",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                (
                    "code",
                    models.SlugField(
                        help_text="Stable key of the cause in reports and the API; never change it.", max_length=40
                    ),
                ),
                ("label", models.CharField(max_length=80)),
                ("description", models.TextField(blank=True, help_text="When to pick this cause, for the reviewer.")),
                (
                    "is_active",
                    models.BooleanField(
                        default=True,
                        help_text="Only active causes can be chosen; breaches that have one keep it.",
                        verbose_name="active",
                    ),
                ),
                (
                    "position",
                    models.PositiveSmallIntegerField(default=100, help_text="Order in the lists (lowest first)."),
                ),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1),
                ),
            ],
            options={
                "verbose_name": "historical breach cause",
                "verbose_name_plural": "historical breach causes",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.AddField(
            model_name="historicalbreachcauseoption",
            name="history_user",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.RunPython(grant_permissions, migrations.RunPython.noop),
        migrations.RunPython(seed_causes, migrations.RunPython.noop),
        migrations.AddField(
            model_name="breach",
            name="cause_confirmed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="cause confirmed"),
        ),
        migrations.AddField(
            model_name="breach",
            name="cause_confirmed_by",
            field=models.ForeignKey(
                db_index=False,
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="cause confirmed by",
            ),
        ),
        migrations.AddField(
            model_name="historicalbreach",
            name="cause_confirmed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="cause confirmed"),
        ),
        migrations.AddField(
            model_name="historicalbreach",
            name="cause_confirmed_by",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="cause confirmed by",
            ),
        ),
        migrations.AddField(
            model_name="breach",
            name="cause_suggested",
            field=models.ForeignKey(
                db_index=False,
                blank=True,
                db_column="cause_suggested",
                help_text="What the facts suggested when the breach was recorded.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="escalations.breachcauseoption",
                to_field="code",
                verbose_name="suggested cause",
            ),
        ),
        migrations.AddField(
            model_name="historicalbreach",
            name="cause_suggested",
            field=models.ForeignKey(
                blank=True,
                db_column="cause_suggested",
                db_constraint=False,
                db_index=False,
                help_text="What the facts suggested when the breach was recorded.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="escalations.breachcauseoption",
                to_field="code",
                verbose_name="suggested cause",
            ),
        ),
        migrations.AddField(
            model_name="incident",
            name="severity_raised_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="historicalincident",
            name="severity_raised_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="caseevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Case opened"),
                    ("clock_started", "Clock started"),
                    ("acknowledged", "Acknowledged"),
                    ("status_changed", "Status changed"),
                    ("paused", "Clock paused"),
                    ("resumed", "Clock resumed"),
                    ("severity_changed", "Severity changed"),
                    ("targets_changed", "Targets changed"),
                    ("stage_changed", "Stage changed"),
                    ("assigned", "Owner changed"),
                    ("customer_updated", "Customer updated"),
                    ("checklist_item_done", "Checklist item done"),
                    ("checklist_item_reopened", "Checklist item reopened"),
                    ("handoff_offered", "Handoff offered"),
                    ("handoff_accepted", "Handoff accepted"),
                    ("handoff_rejected", "Handoff rejected"),
                    ("ping_pong", "Ping-pong detected"),
                    ("warning", "SLA warning"),
                    ("breached", "SLA breached"),
                    ("met", "SLA met"),
                    ("missed", "SLA missed"),
                    ("escalated", "Escalated"),
                    ("escalation_acknowledged", "Escalation acknowledged"),
                    ("paged", "Paged"),
                    ("resolved", "Resolved"),
                    ("reopened", "Reopened"),
                    ("closed", "Closed"),
                    ("edited", "Details edited"),
                    ("note", "Note"),
                    ("breach_cause_confirmed", "Breach cause confirmed"),
                    ("executive_requested", "Executive escalation requested"),
                    ("executive_decided", "Executive escalation decided"),
                    ("credit_requested", "Service credit requested"),
                    ("credit_decided", "Service credit decided"),
                ],
                max_length=30,
            ),
        ),
        migrations.AlterField(
            model_name="historicalcaseevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Case opened"),
                    ("clock_started", "Clock started"),
                    ("acknowledged", "Acknowledged"),
                    ("status_changed", "Status changed"),
                    ("paused", "Clock paused"),
                    ("resumed", "Clock resumed"),
                    ("severity_changed", "Severity changed"),
                    ("targets_changed", "Targets changed"),
                    ("stage_changed", "Stage changed"),
                    ("assigned", "Owner changed"),
                    ("customer_updated", "Customer updated"),
                    ("checklist_item_done", "Checklist item done"),
                    ("checklist_item_reopened", "Checklist item reopened"),
                    ("handoff_offered", "Handoff offered"),
                    ("handoff_accepted", "Handoff accepted"),
                    ("handoff_rejected", "Handoff rejected"),
                    ("ping_pong", "Ping-pong detected"),
                    ("warning", "SLA warning"),
                    ("breached", "SLA breached"),
                    ("met", "SLA met"),
                    ("missed", "SLA missed"),
                    ("escalated", "Escalated"),
                    ("escalation_acknowledged", "Escalation acknowledged"),
                    ("paged", "Paged"),
                    ("resolved", "Resolved"),
                    ("reopened", "Reopened"),
                    ("closed", "Closed"),
                    ("edited", "Details edited"),
                    ("note", "Note"),
                    ("breach_cause_confirmed", "Breach cause confirmed"),
                    ("executive_requested", "Executive escalation requested"),
                    ("executive_decided", "Executive escalation decided"),
                    ("credit_requested", "Service credit requested"),
                    ("credit_decided", "Service credit decided"),
                ],
                max_length=30,
            ),
        ),
        migrations.AlterField(
            model_name="breach",
            name="cause",
            field=models.CharField(blank=True, db_column="cause", max_length=40, null=True),
        ),
        migrations.AlterField(
            model_name="historicalbreach",
            name="cause",
            field=models.CharField(blank=True, db_column="cause", max_length=40, null=True),
        ),
        migrations.RunPython(map_causes, unmap_causes),
        migrations.AlterField(
            model_name="breach",
            name="cause",
            field=models.ForeignKey(
                db_index=False,
                blank=True,
                db_column="cause",
                help_text="The confirmed cause; empty until reviewed.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="breaches",
                to="escalations.breachcauseoption",
                to_field="code",
            ),
        ),
        migrations.AlterField(
            model_name="historicalbreach",
            name="cause",
            field=models.ForeignKey(
                blank=True,
                db_column="cause",
                db_constraint=False,
                db_index=False,
                help_text="The confirmed cause; empty until reviewed.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="escalations.breachcauseoption",
                to_field="code",
            ),
        ),
        migrations.AddIndex(
            model_name="breach",
            index=models.Index(
                condition=models.Q(("cause_confirmed_at__isnull", True)),
                fields=["detected_at", "id"],
                name="breach_review_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="breach",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("cause__isnull", True),
                        ("cause_confirmed_at__isnull", True),
                        ("cause_confirmed_by__isnull", True),
                    ),
                    models.Q(
                        ("cause__isnull", False),
                        ("cause_confirmed_at__isnull", False),
                        ("cause_confirmed_by__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="breach_cause_confirmed_by_whom",
            ),
        ),
    ]
