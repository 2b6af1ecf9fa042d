"""The breach-causes migration on a database holding breaches of the fixed-choice era:
unreviewed ones ("unknown") become unreviewed (no cause), reviewed ones keep their
cause (renamed where it was) and take who reviewed it and when from their history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from escalations.models import Breach, BreachCauseOption
from escalations.services.common import system_user

M = timedelta(minutes=1)


def _migration_and_parent(executor: MigrationExecutor) -> tuple[tuple[str, str], tuple[str, str]]:
    # Found by name: the number changes when branches merge.
    [key] = [k for k in executor.loader.disk_migrations if k[0] == "escalations" and k[1].endswith("_breach_causes")]
    [parent] = [d for d in executor.loader.get_migration(*key).dependencies if d[0] == "escalations"]
    return key, parent


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.mark.django_db(transaction=True)
def test_old_causes_map_onto_the_list(make_incident, manager, now):
    cases = [make_incident(title=f"Case {i}") for i in range(4)]
    executor = MigrationExecutor(connection)
    _, parent = _migration_and_parent(executor)
    latest = executor.loader.graph.leaf_nodes("escalations")
    executor = _migrate([parent])
    old = executor.loader.project_state([parent]).apps
    OldBreach = old.get_model("escalations", "Breach")
    OldHistory = old.get_model("escalations", "HistoricalBreach")

    def old_breach(incident, cause, note=""):
        return OldBreach.objects.create(
            incident_id=incident.pk, kind="ack", cycle=1, severity="S2", due_at=now, detected_at=now + M,
            cause=cause, cause_note=note,
        )  # fmt: skip

    unreviewed = old_breach(cases[0], "unknown")
    handoff = old_breach(cases[1], "handoff", "Night shift never picked it up")
    capacity = old_breach(cases[2], "capacity")
    complexity = old_breach(cases[3], "complexity")
    # The review of "handoff" happened in the admin: its history says by whom and when.
    for at, cause, user in ((now + M, "unknown", None), (now + 90 * M, "handoff", manager.pk)):
        OldHistory.objects.create(
            id=handoff.pk, incident_id=cases[1].pk, kind="ack", cycle=1, severity="S2", due_at=now,
            detected_at=now + M, cause=cause, cause_note="", history_date=at, history_type="~", history_user_id=user,
        )  # fmt: skip

    _migrate(latest)

    assert set(BreachCauseOption.objects.values_list("code", flat=True)) >= {
        "missing_skill", "waiting_on_engineering", "handoff_gap", "wrong_severity", "tooling", "third_party",
        "capacity", "other", "unassigned", "complexity",
    }  # fmt: skip
    assert BreachCauseOption.history.filter(code="handoff_gap").latest().history_user == system_user()
    rows = {b.pk: b for b in Breach.objects.all()}
    assert (rows[unreviewed.pk].cause_id, rows[unreviewed.pk].cause_confirmed_at) == (None, None)
    assert rows[unreviewed.pk].cause_code == "unknown"
    h = rows[handoff.pk]
    assert (h.cause_id, h.cause_note) == ("handoff_gap", "Night shift never picked it up")
    assert (h.cause_confirmed_at, h.cause_confirmed_by) == (now + 90 * M, manager)  # from its history
    c = rows[capacity.pk]
    assert (c.cause_id, c.cause_confirmed_at, c.cause_confirmed_by) == ("capacity", now + M, system_user())
    assert rows[complexity.pk].cause_id == "complexity"
    # History speaks the new codes too.
    assert set(Breach.history.filter(id=handoff.pk).values_list("cause", flat=True)) == {None, "handoff_gap"}
