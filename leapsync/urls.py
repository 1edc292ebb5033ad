"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path

from leapsync import health, signin, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("", include("meters.urls")),  # meters/ and sites/
    path("actions/", include("actions.urls")),
    path("enrollments/", include("enrollments.urls")),
    path("trends/", views.trends, name="trends"),
    path("sync/", views.sync_run_list, name="sync_run_list"),
    path("sync/run/", views.sync_run_start, name="sync_run_start"),
    path("sync/refresh/", views.sync_refresh_start, name="sync_refresh_start"),
    path("sync/<int:pk>/", views.sync_run_detail, name="sync_run_detail"),
    path("webhooks/", include("leapsync.webhooks.urls")),
    path("api/v1/", include("leapsync.api.urls")),
    path("profile/", include("leapsync.preferences.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Before django.contrib.auth's own: the reset request, limited (leapsync/signin.py).
    path(
        "accounts/password_reset/",
        signin.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password_reset/done/",
        signin.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
handler400 = views.bad_request
