"""People's list preferences and their profile page."""

from django.urls import path

from leapsync.preferences import views

app_name = "preferences"
urlpatterns = [
    path("", views.profile, name="profile"),
    path("views/save/", views.view_save, name="view_save"),
    path("views/<int:pk>/delete/", views.view_delete, name="view_delete"),
    path("views/<int:pk>/default/", views.view_default, name="view_default"),
    path("columns/", views.columns_save, name="columns_save"),
]
