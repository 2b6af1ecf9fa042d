"""The escape valves in the admin: service-credit rules are reference data Policy Admins
edit (audited by the request middleware like every reference row); the requests are
written only by ``services.valves`` and are read-only here, scoped to the cases the
user may see."""

from __future__ import annotations

from django.contrib import admin

from escalations.admin.base import BaseAdmin, CaseScopedAdminMixin, ReadOnlyAdminMixin
from escalations.models import (
    ExecutiveEscalationRequest,
    ServiceCreditBreach,
    ServiceCreditRequest,
    ServiceCreditRule,
)


@admin.register(ServiceCreditRule)
class ServiceCreditRuleAdmin(BaseAdmin):
    list_display = ("tier", "percent_per_hour", "cap_percent")


@admin.register(ExecutiveEscalationRequest)
class ExecutiveEscalationRequestAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, BaseAdmin):
    list_display = ("incident", "status", "requested_by", "requested_at", "decided_by", "decided_at")
    list_filter = ("status",)
    search_fields = ("incident__title", "reason", "decision_reason")
    list_select_related = ("incident", "requested_by", "decided_by")
    ordering = ("-requested_at",)


@admin.register(ServiceCreditRequest)
class ServiceCreditRequestAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, BaseAdmin):
    list_display = ("incident", "status", "amount", "requested_by", "requested_at", "decided_by", "decided_at")
    list_filter = ("status",)
    search_fields = ("incident__title", "justification", "decision_reason")
    list_select_related = ("incident", "requested_by", "decided_by")
    ordering = ("-requested_at",)


@admin.register(ServiceCreditBreach)
class ServiceCreditBreachAdmin(CaseScopedAdminMixin, ReadOnlyAdminMixin, BaseAdmin):
    case_field = "request__incident"
    list_display = ("request", "breach")
    list_select_related = ("request", "breach")
