"""Actions workbench pages."""

from django.urls import path

from actions import bulk_views, views

app_name = "actions"
urlpatterns = [
    path("", views.action_list, name="action_list"),
    path("export.csv", views.action_export, name="action_export"),
    path("bulk/", bulk_views.action_bulk_preview, name="action_bulk_preview"),
    path("bulk/apply/", bulk_views.action_bulk_apply, name="action_bulk_apply"),
    path("<int:pk>/", views.action_detail, name="action_detail"),
    path("<int:pk>/workflow/", views.action_workflow, name="action_workflow"),
    path("<int:pk>/notes/", views.action_note_add, name="action_note_add"),
    path("<int:pk>/notify/", views.action_notify, name="action_notify"),
    path("<int:pk>/notify/email.html", views.action_notify_html, name="action_notify_html"),
]
