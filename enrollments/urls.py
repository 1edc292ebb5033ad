"""Enrollment pages: deadlines, market group rosters, participation changes, the digest."""

from django.urls import path

from enrollments import views

app_name = "enrollments"
urlpatterns = [
    path("deadlines/", views.deadline_list, name="deadline_list"),
    path("deadlines/calendar/", views.deadline_calendar, name="deadline_calendar"),
    path("market-groups/", views.market_group_list, name="market_group_list"),
    path("market-groups/export.<str:fmt>", views.market_group_export, name="market_group_export"),
    path("participation/", views.transition_list, name="transition_list"),
    path("participation/export.csv", views.transition_export, name="transition_export"),
    path("digest/", views.digest_subscription, name="digest_subscription"),
    path("digest/save/", views.digest_subscription_save, name="digest_subscription_save"),
    path("digest/preview/", views.digest_preview, name="digest_preview"),
    path("digest/preview/email.html", views.digest_preview_html, name="digest_preview_html"),
]
