"""App config for Leap's webhooks: the receiver, its events and the refreshes they cue."""

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "leapsync.webhooks"
    label = "webhooks"
    verbose_name = "Leap webhooks"
