"""The RCA due-dates migration on a database holding RCAs without a due date (started on
the RCA page before their case was resolved): each gets one from the case's resolve, or
from its own start while the case is open, with history and the "RCA scheduled" item's
tick written by the system user; dated RCAs are left as they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from escalations.choices import ChecklistFact, EventKind, Stage
from escalations.models import CaseEvent, ChecklistItem, Incident, Postmortem
from escalations.services import incident_resolve, incident_set_stage
from escalations.services.common import system_user
from escalations.services.postmortems import postmortem_write
from tests.checklists_support import complete_checklist

H = timedelta(hours=1)


def _migration_and_parent(executor: MigrationExecutor) -> tuple[tuple[str, str], tuple[str, str]]:
    # Found by name: the number changes when branches merge.
    [key] = [k for k in executor.loader.disk_migrations if k[0] == "escalations" and k[1].endswith("_rca_due_dates")]
    [parent] = [d for d in executor.loader.get_migration(*key).dependencies if d[0] == "escalations"]
    return key, parent


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)


def _walk_to_verify(incident: Incident, actor, at: datetime) -> Incident:
    for stage in (Stage.COMMAND, Stage.FIX, Stage.VERIFY):
        complete_checklist(incident, actor, at, stage=Incident.objects.get(pk=incident.pk).stage)
        incident = incident_set_stage(incident=incident.pk, stage=stage, actor=actor, now=at)
    complete_checklist(incident, actor, at, stage=Stage.VERIFY)
    return incident


def _start_rca(incident: Incident, actor, at: datetime) -> Postmortem:
    return postmortem_write(incident=incident, actor=actor, now=at, values={"summary": incident.title}, items=[])


@pytest.mark.django_db(transaction=True)
def test_undated_rcas_get_a_due_date_and_their_items_tick(make_incident, agent, manager, now, time_machine):
    time_machine.move_to(now, tick=False)  # history rows are dated by the wall clock
    open_s1 = _walk_to_verify(make_incident(title="Exports leak data", data_risk=True), agent, now)
    resolved_s2 = make_incident(title="Invoices wrong")
    dated_s2 = make_incident(title="Dashboards slow")
    time_machine.move_to(now + 2 * H, tick=False)  # Friday 20 November, 12:00 UTC
    for incident in (open_s1, resolved_s2):
        _start_rca(incident, manager, now + 2 * H)
    time_machine.move_to(now + 3 * H, tick=False)
    complete_checklist(dated_s2, agent, now + 3 * H, stage="triage")
    incident_resolve(incident=dated_s2.pk, resolution="Cache purged", actor=agent, now=now + 3 * H)
    time_machine.move_to(now + 72 * H, tick=False)  # Monday 23 November, 10:00 UTC
    complete_checklist(resolved_s2, agent, now + 72 * H, stage="triage")
    incident_resolve(incident=resolved_s2.pk, resolution="Rates fixed", actor=agent, now=now + 72 * H)
    dated = Postmortem.objects.get(incident=dated_s2)
    dated_rows = dated.history.count()

    executor = MigrationExecutor(connection)
    _, parent = _migration_and_parent(executor)
    latest = executor.loader.graph.leaf_nodes("escalations")
    executor = _migrate([parent])
    old = executor.loader.project_state([parent]).apps
    OldPostmortem = old.get_model("escalations", "Postmortem")
    OldHistory = old.get_model("escalations", "HistoricalPostmortem")
    OldItem = old.get_model("escalations", "ChecklistItem")
    OldEvent = old.get_model("escalations", "CaseEvent")
    # As the earlier release left them: no due date anywhere, the S1's item still open.
    undated = [open_s1.pk, resolved_s2.pk]
    OldPostmortem.objects.filter(incident_id__in=undated).update(due_at=None)
    OldHistory.objects.filter(incident_id__in=undated).update(due_at=None)
    OldItem.objects.filter(checklist__incident_id=open_s1.pk, fact="rca_scheduled").update(done_at=None, done_by=None)
    OldEvent.objects.filter(incident_id=open_s1.pk, new__fact="rca_scheduled").delete()

    migrated_at = now + 100 * H
    time_machine.move_to(migrated_at, tick=False)
    _migrate(latest)

    system = system_user()
    s1_rca = Postmortem.objects.get(incident=open_s1)
    # Open case: five business days (24×7 calendar, UTC) after the RCA's start on Friday.
    assert s1_rca.due_at == datetime(2026, 11, 28, tzinfo=UTC)
    # Resolved case: from the resolve on Monday 23rd → the end of Monday 30th.
    s2_rca = Postmortem.objects.get(incident=resolved_s2)
    assert s2_rca.due_at == datetime(2026, 12, 1, tzinfo=UTC)
    for rca in (s1_rca, s2_rca):
        last = rca.history.latest()
        assert (last.history_type, last.history_user, last.due_at) == ("~", system, rca.due_at)
        assert last.history_date == migrated_at
        assert last.history_change_reason == "Due date given to an RCA that had none"
        assert last.summary == rca.summary
    # A dated RCA is left as it was.
    assert Postmortem.objects.get(pk=dated.pk).due_at == dated.due_at
    assert dated.history.count() == dated_rows

    item = ChecklistItem.objects.get(checklist__incident=open_s1, fact=ChecklistFact.RCA_SCHEDULED)
    assert (item.done_by, item.done_at) == (system, migrated_at)
    assert item.history.latest().history_user == system
    event = CaseEvent.objects.get(incident=open_s1, kind=EventKind.CHECKLIST_ITEM_DONE, new__fact="rca_scheduled")
    assert (event.actor, event.at) == (system, migrated_at)
    assert event.detail == "RCA scheduled (ticked by the fact: an rca is scheduled)"
    assert event.history.get().history_user == system

    # The S1 that was stuck in Verify resolves from there now.
    resolved = incident_resolve(incident=open_s1.pk, resolution="Restored", actor=agent, now=migrated_at)
    assert (resolved.status, resolved.stage) == ("resolved", Stage.VERIFY)
