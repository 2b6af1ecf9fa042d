"""One rule, one function: for one fixture week, every door that answers "what were the
week's figures?" gives the same answer, and every door that counts ping-pong counts the
same handoffs.

The week (2026-W47) is the review's hand-computed one (tests/review_support.py: several
severities, pauses, a reopen, breaches with confirmed causes, a drill), with more built
through the services: an S1 chosen by hand, a breach nobody has reviewed, service credits
(one approved, one waiting, a drill's), and handoffs with ping-pong of each kind — back
to the person the case left (offer), back to the team it left (offer), and a team offer
accepted by the very person the case just left (accept) — beside a forward handoff and a
rejected one. The beat keeps the week; then the engine, the API (v1 and v2), the review
page, the digest and the handoff audit (list, CSV) are asked."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from escalations.choices import ClockKind, Sentiment, SeverityKey, ValveStatus
from escalations.models import Breach, HandoffPacket, ReviewWeek, ServiceCreditRequest
from escalations.reporting.definitions import ALL, SEVERITY_KEYS
from escalations.reporting.figures import review_figures
from escalations.selectors.handoffs import ping_pong_exists
from escalations.services import handoff_accept, handoff_offer, handoff_reject, incident_acknowledge
from escalations.services.digest import digest_content
from tests.factories import TeamFactory
from tests.integration.api_support import client_for, row_counts
from tests.review_support import AFTER, WEEK, at, build_week_of_cases, keep

pytestmark = pytest.mark.django_db

PACKET = {"summary": "Checkout 500s for EU", "customer_impact": "No orders", "next_steps": "Roll back 4.2"}


def _offer(case, actor, when, **kwargs):
    return handoff_offer(incident=case.pk, actor=actor, now=when, to_stage="triage", **PACKET, **kwargs)


@pytest.fixture
def week(make_incident, agent, other_agent, duty_manager, manager, team, time_machine):
    cases = build_week_of_cases(make_incident, agent, other_agent, manager)
    night = TeamFactory(name="Night shift", slug="night", members=[duty_manager])
    americas = TeamFactory(name="Support Americas", slug="americas", members=[agent, duty_manager])

    # G, an S1 chosen by hand: back to the person it left (ping-pong at the offer), then a
    # rejected offer; a breach nobody has reviewed.
    g = make_incident(title="G", severity="S1", severity_reason="Board-level customer", now=at(1, 9))
    incident_acknowledge(incident=g, actor=agent, now=at(1, 9, 5))
    handoff_accept(handoff=_offer(g, agent, at(1, 10), to_user=other_agent), actor=other_agent, now=at(1, 10, 5))
    back = _offer(g, other_agent, at(1, 11), to_user=agent, ping_pong_reason="Needs billing access")
    handoff_accept(handoff=back, actor=agent, now=at(1, 11, 10))
    refused = _offer(g, agent, at(1, 12), to_user=duty_manager)
    handoff_reject(handoff=refused, reason="Not my queue", actor=duty_manager, now=at(1, 12, 5))
    Breach.objects.create(incident=g, kind=ClockKind.UPDATE, cycle=1, severity="S1", due_at=at(1, 10),
                          detected_at=at(1, 10, 1))  # fmt: skip

    # H, an S3 of the agents' team: to the night shift, then back to the team it left.
    h = make_incident(title="H", arr_at_risk=0, team=team, now=at(2, 9))
    incident_acknowledge(incident=h, actor=agent, now=at(2, 9, 5))
    handoff_accept(handoff=_offer(h, agent, at(2, 10), to_team=night), actor=duty_manager, now=at(2, 10, 5))
    home = _offer(h, duty_manager, at(2, 11), to_team=team, ping_pong_reason="EU morning")
    handoff_accept(handoff=home, actor=other_agent, now=at(2, 11, 5))

    # I: a team offer accepted by the person the case had just left (ping-pong at accept).
    i = make_incident(title="I", now=at(3, 12))
    incident_acknowledge(incident=i, actor=agent, now=at(3, 12, 5))
    handoff_accept(handoff=_offer(i, agent, at(3, 13), to_user=other_agent), actor=other_agent, now=at(3, 13, 2))
    bounced = _offer(i, other_agent, at(3, 14), to_team=americas)
    handoff_accept(handoff=bounced, actor=agent, now=at(3, 14, 3))

    e, d = cases["e"], cases["d"]
    credit = {"breached_seconds": 3600, "eligible_amount": Decimal("500.00"), "requested_by": agent}
    ServiceCreditRequest.objects.create(
        incident=e, amount=Decimal("300.00"), justification="Two breaches", requested_at=at(4, 13),
        status=ValveStatus.APPROVED, decided_by=manager, decided_at=at(4, 14), decision_reason="Per contract", **credit,
    )  # fmt: skip
    ServiceCreditRequest.objects.create(
        incident=e, amount=Decimal("100.00"), justification="Goodwill", requested_at=at(4, 15), **credit
    )
    ServiceCreditRequest.objects.create(
        incident=d, amount=Decimal("50.00"), justification="Drill", requested_at=at(0, 9, 30), **credit
    )
    keep()  # the beat, just after the week ended
    time_machine.move_to(AFTER + timedelta(minutes=1), tick=False)
    return {**cases, "g": g, "h": h, "i": i, "bounced": bounced, "back": back, "home": home}


def engine():
    figures = review_figures(WEEK, now=AFTER)
    assert figures.is_kept
    return figures


# --- the API -------------------------------------------------------------------------------

# Each v1 field and the engine figure it is (over all severities).
V1_FIELDS = {
    "cases_opened": ("opened", "cases", ALL),
    "reopens": ("reopens", ALL),
    "executive_escalations": ("executive_escalations", ALL),
    "sentiment": ("opened", "sentiment", ALL),
    "updates": ("updates", ALL),
    "breaches.total": ("breaches", ALL, "total"),
    **{f"breaches.by_kind.{kind}": ("breaches", ALL, kind) for kind in ClockKind.values},
    **{f"handoffs.{name}": ("handoffs", ALL, name) for name in ("offered", "accepted", "rejected", "ping_pong")},
    "sla_adherence.acknowledge_pct": ("adherence", ALL, "ack"),
    "sla_adherence.resolve_pct": ("adherence", ALL, "resolve"),
    "sla_adherence.update_pct": ("adherence", ALL, "update"),
    **{f"cases_opened_by_severity.{key}": ("opened", "cases", key) for key in SeverityKey.values},
    **{
        f"{api}.{part}": (name, ALL, engine_part)
        for api, name in (("tta", "tta"), ("ttr_cycle", "ttr_cycle"), ("ttr_total", "ttr_total"))
        for part, engine_part in (("count", "count"), ("median_seconds", "median"), ("p90_seconds", "p90"))
    },
}


def _at(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(v) for key, v in value.items()}
    return str(value) if isinstance(value, Decimal) else value


def test_every_field_of_the_api_is_the_engines_figure(week, manager):
    figures = engine()
    c = figures.chosen
    v1 = client_for(manager).get("/api/v1/metrics/weekly/", {"week": WEEK}).json()
    for field, path in V1_FIELDS.items():
        assert _at(v1, field.split(".")) == _at(c, path), field
    assert Decimal(v1["arr_at_risk_total"]) == c["opened"]["arr_at_risk"][ALL]
    assert v1["breaches"]["by_cause"] == figures.causes.counts
    # Every v1 field is one of the above.
    assert set(v1) == {f.split(".")[0] for f in V1_FIELDS} | {"week", "starts_at", "ends_at", "arr_at_risk_total"}

    v2 = client_for(manager).get("/api/v2/metrics/weekly/", {"week": WEEK}).json()
    for key in SEVERITY_KEYS:
        mine = v2["severities"][key]
        for name in ("tta", "ttr_cycle", "ttr_total", "time_to_accept"):
            d = c[name][key]
            assert mine[name] == {"count": d["count"], "median_seconds": d["median"], "p90_seconds": d["p90"]}, name
        for family in ("opened", "open_at_end"):
            assert mine[family] == _jsonable({n: c[family][n][key] for n in ("cases", "arr_at_risk", "sentiment")})
        assert mine["breaches"] == c["breaches"][key]
        assert mine["updates"] == c["updates"][key]
        assert mine["adherence"] == {
            "acknowledge_pct": c["adherence"][key]["ack"],
            "resolve_pct": c["adherence"][key]["resolve"],
            "update_pct": c["adherence"][key]["update"],
        }
        handoffs = {**c["handoffs"][key], "ping_pong_pct": c["handoffs"][key]["ping_pong_rate"]}
        del handoffs["ping_pong_rate"]
        assert mine["handoffs"] == handoffs
        for name in ("reopens", "reopen_rate", "executive_escalations", "severity_set_by_hand"):
            assert mine[name] == c[name][key], name
    assert v2["credits"] == _jsonable(c["credits"])
    assert v2["breaches_by_cause"] == figures.causes.counts
    assert v2["stage_ownership"] == {
        stage: {"count": d["count"], "median_seconds": d["median"], "p90_seconds": d["p90"]}
        for stage, d in c["stage_ownership"].items()
    }


# --- the review page -----------------------------------------------------------------------


def _cells(body: str, key: str) -> dict[str, str]:
    row = re.search(rf'<tr id="severity-{key}">(.*?)</tr>', body, re.S).group(1)
    return {
        name: html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
        for name, text in re.findall(r'<td data-figure="(\w+)">(.*?)</td>', row, re.S)
    }


def _pct(value) -> str:
    return "—" if value is None else f"{value}%"


def test_the_page_renders_the_engines_figures(week, client, manager):
    c = engine().chosen
    client.force_login(manager)
    body = client.get(reverse("escalations:manage-review"), {"week": WEEK}).content.decode()
    for key in SEVERITY_KEYS:
        handoffs = c["handoffs"][key]
        rate = handoffs["ping_pong_rate"]
        assert _cells(body, key) == {
            "opened": str(c["opened"]["cases"][key]),
            "opened_arr": f"{c['opened']['arr_at_risk'][key]:,.2f}",
            "ack": _pct(c["adherence"][key]["ack"]),
            "resolve": _pct(c["adherence"][key]["resolve"]),
            "update": _pct(c["adherence"][key]["update"]),
            "breaches": _cells(body, key)["breaches"],  # the total, then the clocks (below)
            "handoffs": f"{handoffs['offered']} / {handoffs['accepted']} / {handoffs['rejected']}",
            "ping_pong": f"{handoffs['ping_pong']}" + ("" if rate is None else f" ({rate}%)"),
            "executive": str(c["executive_escalations"][key]),
            "open_at_end": str(c["open_at_end"]["cases"][key]),
            "open_arr": f"{c['open_at_end']['arr_at_risk'][key]:,.2f}",
        }, key
        assert _cells(body, key)["breaches"].split(" ")[0] == str(c["breaches"][key]["total"])
    totals = re.search(r'<tr id="credit-totals">(.*?)</tr>', body, re.S).group(1)
    credits = c["credits"]
    assert (
        f"{credits['requested_amount']:,.2f} ({credits['requested_count']}) / "
        f"{credits['approved_amount']:,.2f} ({credits['approved_count']})"
    ) in totals


# --- the digest ----------------------------------------------------------------------------


def test_the_digest_reads_the_engines_figures(week):
    c = engine().chosen
    rows = dict(digest_content(now=AFTER + timedelta(hours=8)).figures)
    handoffs = c["handoffs"][ALL]
    assert rows["Cases opened"] == f"{c['opened']['cases'][ALL]} (ARR at risk ${c['opened']['arr_at_risk'][ALL]:,.0f})"
    assert rows["Acknowledge adherence"] == f"{c['adherence'][ALL]['ack']:.1f} %"
    assert rows["Resolve adherence"] == f"{c['adherence'][ALL]['resolve']:.1f} %"
    assert rows["Update adherence"] == f"{c['adherence'][ALL]['update']:.1f} %"
    assert rows["Breaches"].split(" ")[0] == str(c["breaches"][ALL]["total"])
    assert rows["Reopens"] == str(c["reopens"][ALL])
    assert rows["Handoffs"] == (
        f"{handoffs['offered']} offered, {handoffs['accepted']} accepted, {handoffs['rejected']} rejected"
    )
    assert rows["Ping-pong"] == f"{handoffs['ping_pong']} ({handoffs['ping_pong_rate']:.1f} %)"
    assert rows["Executive interrupts"] == str(c["executive_escalations"][ALL])
    assert rows["Open at the week's end"].startswith(f"{c['open_at_end']['cases'][ALL]} (")
    assert f"({c['tta'][ALL]['count']})" in rows["Time to acknowledge (TTA)"]
    assert rows["Service credits"] == (
        f"requested ${c['credits']['requested_amount']:,.0f} ({c['credits']['requested_count']}), "
        f"approved ${c['credits']['approved_amount']:,.0f} ({c['credits']['approved_count']})"
    )


def test_the_fixture_gives_the_numbers_it_was_built_for(week):
    """The agreement above is between non-trivial numbers."""
    c = engine().chosen
    assert c["opened"]["cases"][ALL] == 7 and c["opened"]["cases"]["S1"] == 1 and c["opened"]["cases"]["S3"] == 2
    assert c["opened"]["sentiment"][ALL][Sentiment.NEGATIVE] == 1
    handoffs = c["handoffs"][ALL]
    assert (handoffs["offered"], handoffs["accepted"], handoffs["rejected"], handoffs["ping_pong"]) == (9, 8, 1, 4)
    assert c["reopens"][ALL] == 1 and c["breaches"][ALL]["total"] == 5
    assert engine().causes.counts["unknown"] == 1
    assert c["credits"]["requested_amount"] == Decimal("400.00") and c["credits"]["approved_count"] == 1


# --- ping-pong: one rule everywhere --------------------------------------------------------


def _csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_ping_pong_counts_agree_in_the_audit_the_review_and_the_api(week, client, manager):
    client.force_login(manager)
    in_week = {p.pk for p in HandoffPacket.objects.filter(offered_at__gte=at(0, 0), offered_at__lt=at(7, 0))}
    listed = client.get(reverse("escalations:manage-handoffs"), {"ping_pong": "on", "window": "24"})
    audit = {h.pk for h in listed.context["page"]} & in_week
    rows = _csv_rows(client.get(reverse("escalations:manage-handoffs-csv")))
    from_csv = {int(r["Handoff"]) for r in rows if r["Ping-pong"] == "yes"} & in_week
    review = engine().handoffs[ALL]["ping_pong"][-1]
    v1 = client_for(manager).get("/api/v1/metrics/weekly/", {"week": WEEK}).json()["handoffs"]["ping_pong"]
    v2 = client_for(manager).get("/api/v2/metrics/weekly/", {"week": WEEK}).json()
    page = client.get(reverse("escalations:manage-review"), {"week": WEEK}).content.decode()
    assert len(audit) == len(from_csv) == review == v1 == v2["severities"]["all"]["handoffs"]["ping_pong"] == 4
    assert _cells(page, ALL)["ping_pong"].startswith("4 ")
    # Each kind is there: to the person it left, to the team it left, taken back by the person.
    assert {week["back"].pk, week["home"].pk, week["bounced"].pk} <= audit
    # The flag the offer and the accept stored is the rule's answer for every handoff they made.
    made = HandoffPacket.objects.filter(incident__in=[week["g"], week["h"], week["i"]])
    judged = made.annotate(rule=ping_pong_exists()).values_list("is_ping_pong", "rule")
    assert all(stored == rule for stored, rule in judged) and sum(rule for _, rule in judged) == 3
    # The audit's ?window= is the same rule with another window: each of these came back
    # within the hour.
    narrow = client.get(reverse("escalations:manage-handoffs"), {"ping_pong": "on", "window": "1"})
    assert {h.pk for h in narrow.context["page"]} & in_week == audit


# --- reading writes nothing ----------------------------------------------------------------


def test_a_get_of_the_page_or_the_api_writes_no_row(week, client, manager, monkeypatch):
    from escalations.services import review_weeks

    asked = []
    monkeypatch.setattr(review_weeks.current_app, "send_task", lambda name, **kw: asked.append(kw["kwargs"]))
    client.force_login(manager)
    api = client_for(manager)

    def reads():
        page = client.get(reverse("escalations:manage-review"), {"week": WEEK})
        v1 = api.get("/api/v1/metrics/weekly/", {"week": WEEK})
        v2 = api.get("/api/v2/metrics/weekly/", {"week": WEEK})
        return page.status_code, v1.status_code, v2.status_code

    before = row_counts()
    assert reads() == (200, 200, 200)  # kept
    assert row_counts() == before
    ReviewWeek.objects.all().delete()  # a fresh install, or the minutes after Monday 00:00 UTC
    before = row_counts()
    assert reads() == (200, 503, 503)
    assert row_counts() == before
    assert asked  # the keeping task was asked to run instead


# --- the doc names the real homes ------------------------------------------------------------


def test_the_architecture_doc_says_what_each_figure_means_and_names_real_homes():
    from importlib import import_module
    from pathlib import Path

    from escalations.reporting.definitions import DEFINITIONS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    for d in DEFINITIONS:
        assert f"| `{d.key}` | {d.term} | {d.text} |" in doc, d.key
    homes = [
        "reporting.definitions.DEFINITIONS",
        "reporting.series.weeks_computed",
        "reporting.figures.review_figures",
        "reporting.live.breaches_by_cause",
        "services.review_weeks.review_weeks_keep",
        "services.review_weeks.review_weeks_hurry",
        "services.digest.digest_figures",
        "selectors.handoffs.ping_pong_sources",
        "selectors.handoffs.ping_pong_exists",
        "selectors.valves.service_credits_totals",
        "api.metrics_serializers.weekly_v1",
        "api.metrics_serializers.weekly_v2",
    ]
    for home in homes:
        assert f"`{home}" in doc or f"`{home.rsplit('.', 1)[1]}`" in doc, home
        module, name = home.rsplit(".", 1)
        assert hasattr(import_module(f"escalations.{module}"), name), home


def test_the_api_schema_describes_the_figures_with_the_same_definitions(client, manager):
    from escalations.reporting.definitions import definition

    client.force_login(manager)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    v1, v2 = components["WeeklyMetricsOut"]["properties"], components["SeverityFiguresOut"]["properties"]
    for field, key in (("tta", "tta"), ("ttr_total", "ttr_total"), ("reopens", "reopens"), ("cases_opened", "opened")):
        assert definition(key).text in v1[field]["description"], field
    for field in ("opened", "open_at_end", "ttr_cycle", "time_to_accept", "severity_set_by_hand"):
        assert definition(field).text in v2[field]["description"], field
    assert "503" in schema["paths"]["/api/v1/metrics/weekly/"]["get"]["responses"]
    assert "503" in schema["paths"]["/api/v2/metrics/weekly/"]["get"]["responses"]
