"""App config for meters."""

from django.apps import AppConfig


class MetersConfig(AppConfig):
    name = "meters"
