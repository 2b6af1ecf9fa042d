"""The signed-in person's preferences: the time zone every page shows times in."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from escalations.forms.cases import ProfileForm, put_service_error
from escalations.models import StaffProfile
from escalations.services import ServiceError
from escalations.services.profiles import staff_profile_set_timezone
from escalations.views.common import login_required


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    current = (
        StaffProfile.objects.filter(user=request.user).values_list("timezone", flat=True).first()
        or settings.DEFAULT_VIEWER_TIMEZONE
    )
    form = ProfileForm(request.POST if request.method == "POST" else None, initial={"timezone": current})
    if request.method == "POST" and form.is_valid():
        try:
            staff_profile_set_timezone(user=request.user, timezone=form.cleaned_data["timezone"], actor=request.user)
        except ServiceError as exc:
            put_service_error(form, exc)
        else:
            messages.success(request, f"Times are now shown in {form.cleaned_data['timezone']}.")
            return redirect("escalations:profile")
    return render(request, "escalations/profile.html", {"form": form}, status=400 if form.errors else 200)
