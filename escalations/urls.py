"""The CS workspace. The names queue, case-detail, case-acknowledge, pages and
case-create are a contract with notifications and the API: keep them."""

from django.urls import path

from escalations.views import audit, breach_review, case_page, cases, inbox, intake, manage, profile, queue, rota, shift

app_name = "escalations"

urlpatterns = [
    path("", queue.queue, name="queue"),
    path("cases/new/", intake.case_create, name="case-create"),
    path("cases/new/preview/", intake.case_create_preview, name="case-create-preview"),
    path("cases/<int:pk>/", case_page.case_detail, name="case-detail"),
    path("cases/<int:pk>/acknowledge/", cases.case_acknowledge, name="case-acknowledge"),
    path("cases/<int:pk>/pause/", cases.case_pause, name="case-pause"),
    path("cases/<int:pk>/resume/", cases.case_resume, name="case-resume"),
    path("cases/<int:pk>/channel/", cases.case_log_channel, name="case-log-channel"),
    path("cases/<int:pk>/resolve/", cases.case_resolve, name="case-resolve"),
    path("cases/<int:pk>/reopen/", cases.case_reopen, name="case-reopen"),
    path("cases/<int:pk>/close/", cases.case_close, name="case-close"),
    path("cases/<int:pk>/severity/", cases.case_severity, name="case-severity"),
    path("cases/<int:pk>/stage/", cases.case_stage, name="case-stage"),
    path("cases/<int:pk>/updates/", cases.case_update, name="case-update"),
    path("cases/<int:pk>/details/", cases.case_edit, name="case-edit"),
    path("cases/<int:pk>/handoff/", cases.case_handoff, name="case-handoff"),
    path("cases/<int:pk>/checklist/<int:item_pk>/", cases.case_checklist_item, name="case-checklist-item"),
    path("handoffs/<int:pk>/accept/", cases.handoff_accept_view, name="handoff-accept"),
    path("handoffs/<int:pk>/reject/", cases.handoff_reject_view, name="handoff-reject"),
    path("handoffs/<int:pk>/cancel/", cases.handoff_cancel_view, name="handoff-cancel"),
    path("pages/", inbox.pages, name="pages"),
    path("pages/read/", inbox.pages_mark_read, name="pages-mark-read"),
    path("pages/<int:pk>/acknowledge/", inbox.page_acknowledge, name="page-acknowledge"),
    path("shift/handoff/", shift.shift_handoff, name="shift-handoff"),
    path("shift/rota/", rota.rota, name="rota"),
    path("shift/rota/<int:pk>/cover/", rota.rota_cover, name="rota-cover"),
    path("shift/rota/<int:pk>/swap/", rota.rota_swap, name="rota-swap"),
    path("shift/handoff/done/", shift.shift_handoff_done, name="shift-handoff-done"),
    path("shift/handoff/<int:pk>/", shift.shift_handoff_case, name="shift-handoff-case"),
    path("profile/", profile.profile, name="profile"),
    path("manage/", manage.manage_index, name="manage"),
    path("manage/handoffs/", audit.handoff_list, name="manage-handoffs"),
    path("manage/handoffs.csv", audit.handoff_csv, name="manage-handoffs-csv"),
    path("manage/handoffs/<int:pk>/", audit.handoff_detail, name="manage-handoff"),
    path("manage/cases/<int:pk>/handoffs/", audit.case_handoff_chain, name="manage-case-handoffs"),
    path("manage/breaches/", breach_review.breach_review, name="manage-breaches"),
]
