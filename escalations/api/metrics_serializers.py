"""The weekly review's output shape (escalations.reporting.metrics defines each figure)."""

from __future__ import annotations

from rest_framework import serializers


class DistributionOut(serializers.Serializer):
    count = serializers.IntegerField()
    median_seconds = serializers.IntegerField(allow_null=True)
    p90_seconds = serializers.IntegerField(allow_null=True)


class AdherenceOut(serializers.Serializer):
    acknowledge_pct = serializers.FloatField(allow_null=True)
    resolve_pct = serializers.FloatField(allow_null=True)
    update_pct = serializers.FloatField(allow_null=True)


class UpdatesOut(serializers.Serializer):
    posted = serializers.IntegerField()
    late = serializers.IntegerField()


class BreachCountsOut(serializers.Serializer):
    total = serializers.IntegerField()
    by_kind = serializers.DictField(child=serializers.IntegerField())
    by_cause = serializers.DictField(child=serializers.IntegerField())


class HandoffCountsOut(serializers.Serializer):
    offered = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    ping_pong = serializers.IntegerField()


class WeeklyMetricsOut(serializers.Serializer):
    """See escalations.reporting.metrics for each definition."""

    week = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    cases_opened = serializers.IntegerField()
    cases_opened_by_severity = serializers.DictField(child=serializers.IntegerField())
    tta = DistributionOut()
    ttr_cycle = DistributionOut()
    ttr_total = DistributionOut()
    sla_adherence = AdherenceOut()
    updates = UpdatesOut()
    reopens = serializers.IntegerField()
    breaches = BreachCountsOut()
    handoffs = HandoffCountsOut()
    arr_at_risk_total = serializers.DecimalField(max_digits=18, decimal_places=2)
    executive_escalations = serializers.IntegerField()
    sentiment = serializers.DictField(child=serializers.IntegerField())
