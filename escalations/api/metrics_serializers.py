"""The weekly figures in the API: two shapes of the one computation
(escalations.reporting), each field described by ``reporting.definitions``.

- v1 (``/api/v1/metrics/weekly/``) keeps its field names, all severities together;
  ``weekly_v1`` maps each onto the engine's figure of the same meaning
  (``arr_at_risk_total`` and ``sentiment`` are of the cases opened in the week).
- v2 (``/api/v2/metrics/weekly/``) is the engine's shape: every figure under its name,
  per severity and over all, the cases opened and the cases open at the week's end
  told apart, stage ownership and service credits beside them."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from escalations.choices import ClockKind, Sentiment, SeverityKey, Stage
from escalations.reporting.definitions import ALL, SEVERITY_KEYS, SEVERITY_LABELS, described
from escalations.reporting.figures import ReviewFigures

MONEY = {"max_digits": 18, "decimal_places": 2}


class DistributionOut(serializers.Serializer):
    count = serializers.IntegerField()
    median_seconds = serializers.IntegerField(allow_null=True)
    p90_seconds = serializers.IntegerField(allow_null=True)


class AdherenceOut(serializers.Serializer):
    acknowledge_pct = serializers.FloatField(allow_null=True, help_text=described("adherence_ack"))
    resolve_pct = serializers.FloatField(allow_null=True, help_text=described("adherence_resolve"))
    update_pct = serializers.FloatField(allow_null=True, help_text=described("adherence_update"))


class UpdatesOut(serializers.Serializer):
    posted = serializers.IntegerField()
    late = serializers.IntegerField()


class BreachCountsOut(serializers.Serializer):
    total = serializers.IntegerField()
    by_kind = serializers.DictField(child=serializers.IntegerField())
    by_cause = serializers.DictField(child=serializers.IntegerField(), help_text=described("breaches_by_cause"))


class HandoffCountsOut(serializers.Serializer):
    offered = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    ping_pong = serializers.IntegerField(help_text=described("ping_pong"))


class WeeklyMetricsOut(serializers.Serializer):
    """The figures of one kept ISO week, all severities together (v1)."""

    week = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    cases_opened = serializers.IntegerField(help_text=described("opened"))
    cases_opened_by_severity = serializers.DictField(child=serializers.IntegerField(), help_text=described("opened"))
    tta = DistributionOut(help_text=described("tta"))
    ttr_cycle = DistributionOut(help_text=described("ttr_cycle"))
    ttr_total = DistributionOut(help_text=described("ttr_total"))
    sla_adherence = AdherenceOut()
    updates = UpdatesOut(help_text=described("updates"))
    reopens = serializers.IntegerField(help_text=described("reopens"))
    breaches = BreachCountsOut(help_text=described("breaches"))
    handoffs = HandoffCountsOut(help_text=described("handoffs"))
    arr_at_risk_total = serializers.DecimalField(**MONEY, help_text=described("opened", "ARR at risk of the "))
    executive_escalations = serializers.IntegerField(help_text=described("executive_escalations"))
    sentiment = serializers.DictField(
        child=serializers.IntegerField(), help_text=described("opened", "Sentiment counts of the ")
    )


def _distribution(d: dict) -> dict:
    return {"count": d["count"], "median_seconds": d["median"], "p90_seconds": d["p90"]}


def _adherence(d: dict) -> dict:
    return {"acknowledge_pct": d["ack"], "resolve_pct": d["resolve"], "update_pct": d["update"]}


def _bounds(figures: ReviewFigures) -> dict[str, Any]:
    week = figures.week
    return {"week": week.label, "starts_at": week.starts_at, "ends_at": week.ends_at}


def weekly_v1(figures: ReviewFigures) -> dict[str, Any]:
    """The v1 payload of a kept week, from the engine's figures."""
    c = figures.chosen
    breaches = c["breaches"][ALL]
    handoffs = c["handoffs"][ALL]
    return {
        **_bounds(figures),
        "cases_opened": c["opened"]["cases"][ALL],
        "cases_opened_by_severity": {key: c["opened"]["cases"][key] for key in SeverityKey.values},
        "tta": _distribution(c["tta"][ALL]),
        "ttr_cycle": _distribution(c["ttr_cycle"][ALL]),
        "ttr_total": _distribution(c["ttr_total"][ALL]),
        "sla_adherence": _adherence(c["adherence"][ALL]),
        "updates": c["updates"][ALL],
        "reopens": c["reopens"][ALL],
        "breaches": {
            "total": breaches["total"],
            "by_kind": {kind: breaches[kind] for kind in ClockKind.values},
            "by_cause": figures.causes.counts,
        },
        "handoffs": {name: handoffs[name] for name in ("offered", "accepted", "rejected", "ping_pong")},
        "arr_at_risk_total": c["opened"]["arr_at_risk"][ALL],
        "executive_escalations": c["executive_escalations"][ALL],
        "sentiment": c["opened"]["sentiment"][ALL],
    }


# --- v2: the engine's shape --------------------------------------------------------------


class CasesOut(serializers.Serializer):
    cases = serializers.IntegerField()
    arr_at_risk = serializers.DecimalField(**MONEY)
    sentiment = serializers.DictField(
        child=serializers.IntegerField(), help_text=f"Keyed by {', '.join(Sentiment.values)}."
    )


BreachesOut = type(
    "BreachesOut",
    (serializers.Serializer,),
    {name: serializers.IntegerField() for name in ("total", *ClockKind.values)},
)


class HandoffsOut(serializers.Serializer):
    offered = serializers.IntegerField(help_text=described("handoffs"))
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    ping_pong = serializers.IntegerField(help_text=described("ping_pong"))
    ping_pong_pct = serializers.FloatField(allow_null=True)
    cases_resolved = serializers.IntegerField()
    per_case = serializers.FloatField(allow_null=True, help_text=described("handoffs_per_case"))


class SeverityFiguresOut(serializers.Serializer):
    opened = CasesOut(help_text=described("opened"))
    open_at_end = CasesOut(help_text=described("open_at_end"))
    tta = DistributionOut(help_text=described("tta"))
    ttr_cycle = DistributionOut(help_text=described("ttr_cycle"))
    ttr_total = DistributionOut(help_text=described("ttr_total"))
    adherence = AdherenceOut()
    updates = UpdatesOut(help_text=described("updates"))
    reopens = serializers.IntegerField(help_text=described("reopens"))
    reopen_rate = serializers.FloatField(allow_null=True, help_text=described("reopen_rate"))
    breaches = BreachesOut(help_text=described("breaches"))
    handoffs = HandoffsOut()
    time_to_accept = DistributionOut(help_text=described("time_to_accept"))
    executive_escalations = serializers.IntegerField(help_text=described("executive_escalations"))
    severity_set_by_hand = serializers.IntegerField(help_text=described("severity_set_by_hand"))


SeveritiesOut = type(
    "SeveritiesOut",
    (serializers.Serializer,),
    {key: SeverityFiguresOut(help_text=SEVERITY_LABELS[key]) for key in SEVERITY_KEYS},
)
StagesOut = type("StagesOut", (serializers.Serializer,), {stage: DistributionOut() for stage in Stage.values})


class CreditsOut(serializers.Serializer):
    requested_count = serializers.IntegerField()
    requested_amount = serializers.DecimalField(**MONEY)
    approved_count = serializers.IntegerField()
    approved_amount = serializers.DecimalField(**MONEY)


class WeeklyFiguresOut(serializers.Serializer):
    """The figures of one kept ISO week under the engine's names (v2)."""

    week = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    computed_at = serializers.DateTimeField(help_text=described("kept"))
    severities = SeveritiesOut(help_text=f"{described('severity')} Keyed all, {', '.join(SeverityKey.values)}.")
    stage_ownership = StagesOut(help_text=described("stage_ownership"))
    credits = CreditsOut(help_text=described("credits"))
    breaches_by_cause = serializers.DictField(
        child=serializers.IntegerField(), help_text=described("breaches_by_cause")
    )


def _severity_v2(c: dict, key: str) -> dict[str, Any]:
    def cases(family: str) -> dict:
        return {name: c[family][name][key] for name in ("cases", "arr_at_risk", "sentiment")}

    handoffs = c["handoffs"][key]
    return {
        "opened": cases("opened"),
        "open_at_end": cases("open_at_end"),
        "tta": _distribution(c["tta"][key]),
        "ttr_cycle": _distribution(c["ttr_cycle"][key]),
        "ttr_total": _distribution(c["ttr_total"][key]),
        "adherence": _adherence(c["adherence"][key]),
        "updates": c["updates"][key],
        "reopens": c["reopens"][key],
        "reopen_rate": c["reopen_rate"][key],
        "breaches": c["breaches"][key],
        "handoffs": {**handoffs, "ping_pong_pct": handoffs["ping_pong_rate"]},
        "time_to_accept": _distribution(c["time_to_accept"][key]),
        "executive_escalations": c["executive_escalations"][key],
        "severity_set_by_hand": c["severity_set_by_hand"][key],
    }


def weekly_v2(figures: ReviewFigures) -> dict[str, Any]:
    """The v2 payload of a kept week: the engine's figures as they are."""
    c = figures.chosen
    return {
        **_bounds(figures),
        "computed_at": figures.computed_at[-1],
        "severities": {key: _severity_v2(c, key) for key in SEVERITY_KEYS},
        "stage_ownership": {stage: _distribution(d) for stage, d in c["stage_ownership"].items()},
        "credits": c["credits"],
        "breaches_by_cause": figures.causes.counts,
    }
