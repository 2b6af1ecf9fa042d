"""The API's fast paths render exactly what DRF would: escalations.api.incident_json
against IncidentOut, and escalations.api.renderers.FastJSONRenderer against DRF's
JSONRenderer, over every kind of case and in several viewer time zones."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from escalations.api.incident_json import (
    INCIDENT_JSON_COLUMNS,
    incident_json,
    incident_rows,
    incident_rows_by_id,
    rows_json,
)
from escalations.api.renderers import FastJSONRenderer
from escalations.api.serializers import IncidentOut
from escalations.api.views.base import incident_queryset
from escalations.choices import PauseReason
from escalations.models import Incident
from escalations.selectors.clocks import pauses_by_incident
from escalations.services import (
    incident_acknowledge,
    incident_pause,
    incident_reopen,
    incident_resolve,
    incident_resume,
    incident_update,
)
from tests.checklists_support import complete_checklist

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


def tick_required(incident: Incident, actor, now: datetime) -> None:
    complete_checklist(incident, actor, now, stage=incident.stage)


@pytest.fixture
def cases(make_incident, agent, duty_manager, unagreed_channel, now) -> list[int]:
    """One case of each shape the clocks and fields can take."""
    made = []
    made.append(make_incident(title="New S2 <script>alert(1)</script>"))
    made.append(make_incident(title="Not on an agreed channel", channel=unagreed_channel))
    made.append(make_incident(title="Business hours S3", arr_at_risk=Decimal("12345.5")))
    made.append(make_incident(title="S4 with odd pct", arr_at_risk=0, users_affected_pct=Decimal("0.5")))
    made.append(make_incident(title="Drill \u2028 line sep", is_drill=True, data_risk=True, actor=duty_manager))
    acked = make_incident(title="Acknowledged")
    incident_acknowledge(incident=acked, actor=agent, now=now + 5 * timedelta(minutes=1))
    made.append(acked)
    paused = make_incident(title="Paused on the customer")
    incident_acknowledge(incident=paused, actor=agent, now=now + H)
    incident_pause(incident=paused, reason=PauseReason.CUSTOMER, note="logs", actor=agent, now=now + 2 * H)
    made.append(paused)
    resumed = make_incident(title="Paused and resumed", arr_at_risk=0)
    incident_acknowledge(incident=resumed, actor=agent, now=now + H)
    incident_pause(incident=resumed, reason=PauseReason.THIRD_PARTY, note="vendor", actor=agent, now=now + 2 * H)
    incident_resume(incident=resumed, actor=agent, now=now + 5 * H)
    made.append(resumed)
    done = make_incident(title="Resolved and reopened", arr_at_risk=0)
    incident_update(
        incident=done, actor=agent, now=now, commander=duty_manager, bridge_url="https://meet.example.com/x"
    )
    incident_acknowledge(incident=done, actor=agent, now=now + H)
    tick_required(Incident.objects.get(pk=done.pk), agent, now + H)
    incident_resolve(incident=done, resolution="Restarted", actor=agent, now=now + 3 * H)
    incident_reopen(incident=done, reason="Back", actor=agent, now=now + 4 * H)
    made.append(done)
    closed = make_incident(title="Resolved", arr_at_risk=0)
    incident_resolve(incident=closed, resolution="Fixed", actor=agent, now=now + 30 * H)
    made.append(closed)
    return [case.pk for case in made]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("later", [timedelta(0), timedelta(hours=7, minutes=13), timedelta(days=9)])
def test_incident_json_equals_incident_out(cases, now, zone, later):
    at = now + later
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        for rows in (list(incident_queryset().filter(pk__in=cases)), list(Incident.objects.filter(pk__in=cases))):
            assert len(rows) == len(cases)
            expected = [dict(row) for row in IncidentOut(rows, many=True, context={"now": at}).data]
            pauses = pauses_by_incident(cases)
            for row, one in zip(rows, expected, strict=True):
                assert incident_json(row, now=at) == one
                assert incident_json(row, now=at, pauses=pauses[row.pk]) == one
        # The list's path: rows straight from the database, by the fast reader and by
        # Django's own (the fallback on other databases), in IncidentOut's key order.
        qs = Incident.objects.filter(pk__in=cases).order_by("-id")
        expected = [dict(row) for row in IncidentOut(qs, many=True, context={"now": at}).data]
        for rows in (incident_rows_by_id(list(qs.values_list("pk", flat=True))), list(incident_rows(qs))):
            assert rows_json(rows, now=at) == expected
            assert rows_json(rows, now=at, pauses=pauses_by_incident(cases)) == expected
            assert [list(row) for row in rows_json(rows, now=at)] == [list(row) for row in expected]


def test_the_clocks_count_something(cases, now):
    """Not just equal: the shapes above give non-trivial clocks, so the comparison means something."""
    rows = rows_json(incident_rows_by_id(sorted(cases)), now=now + 9 * H)
    assert {row["paused"] for row in rows} == {True, False}
    assert any(row["tta_seconds"] > 0 for row in rows) and any(row["ttr_seconds"] > 0 for row in rows)
    assert any(row["arr_at_risk"] == "12345.50" for row in rows)


def test_instance_datetimes_in_any_offset_render_in_the_viewer_zone(make_incident, now):
    """A case in hand (the one intake just wrote) can carry the caller's offset; a row
    from the database is UTC. Both render in the viewer's zone, as DRF does."""
    case = make_incident()
    case.reported_at = datetime(2026, 3, 1, 9, 30, 0, 250, tzinfo=zoneinfo.ZoneInfo("Asia/Kolkata"))
    for zone in ("UTC", "Europe/London", "America/New_York"):
        with timezone.override(zoneinfo.ZoneInfo(zone)):
            expected = dict(IncidentOut(case, context={"now": now}).data)
            assert incident_json(case, now=now) == expected
    with timezone.override(zoneinfo.ZoneInfo("UTC")):
        assert incident_json(case, now=now)["reported_at"] == "2026-03-01T04:00:00.000250Z"


def test_columns_cover_everything_the_getters_read(cases, now, django_assert_num_queries):
    """incident_queryset() defers every other column; reading one would cost a query per row."""
    rows = list(incident_queryset().filter(pk__in=cases))
    pauses = pauses_by_incident(cases)
    with django_assert_num_queries(0):
        [incident_json(row, now=now, pauses=pauses[row.pk]) for row in rows]
    assert "description" in INCIDENT_JSON_COLUMNS and "calendar_snapshot" in INCIDENT_JSON_COLUMNS


@pytest.mark.parametrize(
    "data",
    [
        {"a": 1, "b": [1.5, None, True, False], "c": "caf\u00e9 \u2028 \u2029 </script>", "d": {"e": []}},
        {"when": datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), "amount": Decimal("10.25")},
        {"when": datetime(2026, 3, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))},
        {"lazy": gettext_lazy("This field is required."), 3: "int key"},
        [{"huge": 2**70}],
        "plain",
    ],
)
def test_fast_renderer_matches_drf(data):
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)


def test_fast_renderer_keeps_pretty_printing_on_request():
    data = {"a": [1, 2]}
    media = "application/json; indent=2"
    assert FastJSONRenderer().render(data, media) == JSONRenderer().render(data, media)
    assert FastJSONRenderer().render(None) == b""
