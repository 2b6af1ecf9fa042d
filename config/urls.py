from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Everyone changes their own password here (the admin's page is for staff only), or
    # resets it by e-mail; links in the e-mail start with SITE_URL, not the request's Host.
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(extra_email_context={"site_url": settings.SITE_URL}),
        name="password_reset",
    ),
    path("accounts/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("", include("escalations.api.urls")),  # /api/v1/…, /api/schema/, /api/docs/
    path("", include("escalations.views.health")),  # /healthz
    path("", include("escalations.urls")),  # the CS workspace
]

# Under /api/ every error Django answers itself is the API's JSON shape.
handler400 = "escalations.api.errors.bad_request"
handler403 = "escalations.api.errors.permission_denied"
handler404 = "escalations.api.errors.page_not_found"
handler500 = "escalations.api.errors.server_error"
