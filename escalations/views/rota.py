"""The shift rota: a week of shifts, in the viewer's zone, with cover and swap, for Duty
Managers (and anyone else who may change shifts)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from escalations.forms import cases as f
from escalations.models import Shift
from escalations.services import ServiceError
from escalations.services.rota import shift_cover, shift_swap
from escalations.views.common import login_required, require_perm

PERM = "escalations.change_shift"


def _week_start(value: str | None) -> date:
    today = timezone.localdate()
    try:
        day = date.fromisoformat(value) if value else today
    except ValueError:
        day = today
    return day - timedelta(days=day.weekday())


@login_required
def rota(request: HttpRequest) -> HttpResponse:
    require_perm(request, PERM)
    monday = _week_start(request.GET.get("week"))
    zone = timezone.get_current_timezone()
    start = datetime.combine(monday, time.min, tzinfo=zone)
    end = start + timedelta(days=7)
    shifts = list(
        Shift.objects.filter(starts_at__lt=end, ends_at__gt=start)
        .select_related("team", "user")
        .order_by("starts_at", "team__name", "role", "id")
    )
    now = timezone.now()
    for one in shifts:
        one.swappable = [o for o in shifts if o.pk != one.pk and o.user_id != one.user_id and o.ends_at > now]
    days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        days.append((day, [s for s in shifts if timezone.localtime(s.starts_at).date() == day]))
    people = list(f.workers())
    return render(
        request,
        "escalations/rota.html",
        {
            "days": days,
            "monday": monday,
            "previous": (monday - timedelta(days=7)).isoformat(),
            "next": (monday + timedelta(days=7)).isoformat(),
            "people": people,
            "week_shifts": shifts,
            "now": now,
        },
    )


class CoverForm(forms.Form):
    user = f.PersonChoiceField(queryset=f.workers(), label="Covered by")


class SwapForm(forms.Form):
    other = forms.IntegerField(min_value=1, label="Swap with")


def _back(request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse('escalations:rota')}?week={request.POST.get('week', '')}")


@login_required
@require_POST
def rota_cover(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, PERM)
    form = CoverForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose who covers the shift.")
        return _back(request)
    try:
        shift = shift_cover(shift=pk, user=form.cleaned_data["user"], actor=request.user, now=timezone.now())
    except (ServiceError, Shift.DoesNotExist) as exc:
        messages.error(request, getattr(exc, "message", "No such shift."))
        return _back(request)
    messages.success(request, f"{shift.user} covers the {shift.get_role_display()} shift.")
    return _back(request)


@login_required
@require_POST
def rota_swap(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, PERM)
    form = SwapForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the shift to swap with.")
        return _back(request)
    try:
        first, second = shift_swap(shift=pk, other=form.cleaned_data["other"], actor=request.user, now=timezone.now())
    except (ServiceError, Shift.DoesNotExist) as exc:
        messages.error(request, getattr(exc, "message", "No such shift."))
        return _back(request)
    messages.success(request, f"Swapped: {first.user} and {second.user}.")
    return _back(request)
