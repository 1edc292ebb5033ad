"""Meter pages."""

from django.urls import path

from meters import views

app_name = "meters"
urlpatterns = [
    path("", views.meter_list, name="meter_list"),
    path("export.csv", views.meter_export, name="meter_export"),
    path("search/", views.meter_search, name="meter_search"),
    path("<uuid:meter_id>/", views.meter_detail, name="meter_detail"),
    path("<uuid:meter_id>/sync/", views.meter_sync, name="meter_sync"),
]
