"""The breached-band migration on a database whose paused, breached cases were stored in
the waiting band (as the services stored them before a pause stopped ending "breached
now"): each moves to the breached band with a history row by the system user; a paused
case with nothing breached stays where it was."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from escalations.models import Incident
from escalations.services import customer_update_post, incident_acknowledge, incident_pause
from escalations.services.common import system_user
from escalations.services.engine.sweep import sweep_run
from escalations.sla import QueueRank

M = timedelta(minutes=1)


def _migration_and_parent(executor: MigrationExecutor) -> tuple[tuple[str, str], tuple[str, str]]:
    # Found by name: the number changes when branches merge.
    [key] = [
        k
        for k in executor.loader.disk_migrations
        if k[0] == "escalations" and k[1].endswith("_breached_band_while_paused")
    ]
    [parent] = [d for d in executor.loader.get_migration(*key).dependencies if d[0] == "escalations"]
    return key, parent


@pytest.mark.django_db(transaction=True)
def test_paused_breached_cases_move_to_the_breached_band(make_incident, agent, now, time_machine):
    time_machine.move_to(now + 3 * M, tick=False)  # history rows are dated by the wall clock
    breached, calm = make_incident(title="Breached, then paused"), make_incident(title="Paused in time")
    sweep_run(now=now + 31 * M, source="test")  # both missed the 30 minutes to acknowledge
    for incident in (breached, calm):
        incident_acknowledge(incident=incident, actor=agent, now=now + 32 * M)
    sweep_run(now=now + 61 * M, source="test")  # no customer update within the hour: both breach again
    customer_update_post(incident=calm, body="On it", channel=None, actor=agent, now=now + 62 * M)
    for incident in (breached, calm):
        incident_pause(incident=incident, reason="customer", note="Logs", actor=agent, now=now + 63 * M)
    assert Incident.objects.get(pk=breached.pk).queue_rank == QueueRank.BREACHED
    assert Incident.objects.get(pk=calm.pk).queue_rank == QueueRank.WAITING
    # The band the services stored before.
    Incident.objects.filter(pk=breached.pk).update(queue_rank=QueueRank.WAITING)
    history_before = Incident.history.filter(id=breached.pk).count()

    executor = MigrationExecutor(connection)
    key, parent = _migration_and_parent(executor)
    executor.migrate([parent])
    MigrationExecutor(connection).migrate([key])

    moved = Incident.objects.get(pk=breached.pk)
    assert moved.queue_rank == QueueRank.BREACHED and moved.is_breached
    latest = Incident.history.filter(id=breached.pk).latest("history_date", "history_id")
    assert Incident.history.filter(id=breached.pk).count() == history_before + 1
    assert latest.history_user_id == system_user().pk and latest.queue_rank == QueueRank.BREACHED
    assert Incident.objects.get(pk=calm.pk).queue_rank == QueueRank.WAITING
