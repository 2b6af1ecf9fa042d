"""Building blocks shared by every ModelAdmin of the app: history-aware base classes, a
read-only variant for rows only the services write, a paginator that does not count
huge tables, the door that turns a service refusal into a form error, and a history
page that reads as a person would."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import unquote
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import DeletedObject, ModelDelta
from simple_history.template_utils import HistoricalRecordContextHelper

from escalations.display import labelled_changes, local_time, person_name
from escalations.errors import ServiceError
from escalations.lib.pagination import EstimatedCountPaginator
from escalations.security.access import case_rows_q, incident_access_q, may_change_case, sees_every_case


class BaseAdmin(SimpleHistoryAdmin):
    """Every model's admin: simple-history's history view, with reverting guarded.

    simple-history's history_form_view saves a POSTed old version for anyone who may *view*
    the history, and saves the whole historical instance (every field, not only the form's).
    Reverting is therefore only allowed where this admin may change the row and the model
    is plain reference data (``allow_revert``)."""

    allow_revert = True

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self.allow_revert or not self.has_change_permission(request, obj):
            return True
        return super().revert_disabled(request, obj)

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        if request.method == "POST" and self.revert_disabled(request):
            raise PermissionDenied("Reverting is not allowed here.")
        return super().history_form_view(request, object_id, version_id, extra_context)


def person_text(user: Any) -> str:
    """A person as the history page names them; "—" for nobody."""
    return person_name(user, nobody="—")


class ReadableRecordHelper(HistoricalRecordContextHelper):
    """One history row's changes as a person reads them (escalations.display): field
    labels, times to the second in the viewer's zone, "—" for an empty value or person."""

    def context_for_delta_changes(self, delta: ModelDelta) -> list[dict[str, Any]]:
        changed = {change.field: (self.plain(change.old), self.plain(change.new)) for change in delta.changes}
        shorten = self.get_obj_diff_display().common_shorten_repr
        rows = []
        for label, old, new in labelled_changes(changed):
            old, new = shorten(old, new)  # long texts cut around where they differ
            rows.append({"field": label, "old": old, "new": new})
        return rows

    @staticmethod
    def plain(value: Any) -> Any:
        if isinstance(value, DeletedObject):
            # simple-history reports an empty foreign key as "Deleted user (pk=None)".
            return None if value.pk is None else str(value)
        if isinstance(value, AbstractBaseUser):
            return person_text(value)
        return value


class ReadableHistoryMixin:
    """A history page people can read: when (to the second, viewer's zone), who ("—"
    for nobody), the reason, and the changed fields by label with readable values.
    The labels are the case's (escalations.display.field_label)."""

    object_history_list_template = "admin/escalations/readable_history_list.html"

    def get_historical_record_context_helper(self, request: HttpRequest, historical_record: Any):
        return ReadableRecordHelper(self.model, historical_record)

    def set_history_delta_changes(self, request: HttpRequest, historical_records: Any, foreign_keys_are_objs=True):
        # The one hook simple-history calls with exactly the page's rows.
        super().set_history_delta_changes(request, historical_records, foreign_keys_are_objs)
        for record in historical_records:
            record.when_text = local_time(record.history_date)
            record.user_text = person_text(record.history_user)
            record.reason_text = record.history_change_reason or "—"


class LargeTableAdmin(BaseAdmin):
    """Tables that grow without bound: no second count(*) of the whole table per page,
    and an estimated count for the unfiltered list."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50


class ReadOnlyAdminMixin:
    """Rows only the services (or the sweep) write: viewable, never added, changed or
    deleted by hand, and never reverted from history."""

    allow_revert = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline:
    """An inline that only shows rows (they are written by the services)."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ServiceFormAdminMixin:
    """For admins whose ``save_model`` calls a service. A service refuses a change late,
    after the form validated; the admin has no hook there to re-render the form. So the
    refusal propagates out of ``changeform_view``'s transaction (rolling everything back),
    and the same POST is processed once more with the refusal attached to the form, which
    then fails validation and is shown with the message on the field at fault."""

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceError as exc:
            request._admin_service_error = exc
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        error: ServiceError | None = getattr(request, "_admin_service_error", None)
        if error is None:
            return form_class

        class RefusedForm(form_class):
            def clean(self) -> dict:
                cleaned = super().clean()
                field = error.field if error.field in self.fields else None
                self.add_error(field, error.message)
                return cleaned

        return RefusedForm


class CaseScopedAdminMixin:
    """Cases and the rows that belong to them: the admin lists, opens, autocompletes and
    shows the history of only what the workspace's access rule lets the user see (the
    rule's one home, ``escalations.security.access``); anything else is not found. ``case_field``
    is the path from the row to its case ("" for a case itself)."""

    case_field = "incident"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if not self.case_field:
            return qs.filter(incident_access_q(request.user))
        nullable = qs.model._meta.get_field(self.case_field.split("__")[0]).null
        return qs.filter(case_rows_q(request.user, self.case_field, null_is_visible=nullable))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        if allowed and obj is not None and not self.case_field:
            return may_change_case(request.user, obj)
        return allowed

    def row_visible(self, request: HttpRequest, object_id: str) -> bool:
        """Whether the row ``object_id`` is one this user may see. Anyone who sees every
        case also sees the history of rows deleted since."""
        if sees_every_case(request.user):
            return True
        try:
            return self.get_queryset(request).filter(pk=unquote(object_id)).exists()
        except (ValueError, TypeError, ValidationError):
            return False

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        if not self.row_visible(request, object_id):
            raise Http404("No such row.")
        return super().history_view(request, object_id, extra_context)

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        # simple-history's version page loads the historical row by id alone: without
        # this check any sequential history id would show a hidden case's old values.
        if not self.row_visible(request, object_id):
            raise Http404("No such row.")
        return super().history_form_view(request, object_id, version_id, extra_context)
