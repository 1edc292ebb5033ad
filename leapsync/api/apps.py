"""The API app (label `api`): its one model is ApiToken."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "leapsync.api"
    label = "api"
    verbose_name = "API"
    default_auto_field = "django.db.models.BigAutoField"
