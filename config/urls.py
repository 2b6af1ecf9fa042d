from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("escalations.api.urls")),  # /api/v1/…, /api/schema/, /api/docs/
    path("", include("escalations.views.health")),  # /healthz
    path("", include("escalations.urls")),  # the CS workspace
]

# Under /api/ every error Django answers itself is the API's JSON shape.
handler400 = "escalations.api.errors.bad_request"
handler403 = "escalations.api.errors.permission_denied"
handler404 = "escalations.api.errors.page_not_found"
handler500 = "escalations.api.errors.server_error"
