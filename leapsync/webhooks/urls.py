"""Webhook pages and Leap's delivery endpoint."""

from django.urls import path

from leapsync.webhooks import views

app_name = "webhooks"
urlpatterns = [
    path("", views.webhook_event_list, name="webhook_event_list"),
    path("leap/", views.webhook_receive, name="webhook_receive"),
    path("<int:pk>/", views.webhook_event_detail, name="webhook_event_detail"),
]
