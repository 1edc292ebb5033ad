"""App config of the read side: it owns one table, the stored figures."""

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "leapsync.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard figures"
