"""The stored figures: one row per figure set, written by the figures task, read by views."""

from __future__ import annotations

from django.db import models


class FigureSet(models.Model):
    """One named set of figures (the dashboard's, the deadlines', one period's roster...).

    `data` is the pickled value the page renders, written only by this app's task from its own
    queries (never from outside input); `format` names the shape of the value, so a deploy that
    changes a shape reads the previous release's rows as missing, not as garbage. `state` is
    what the figures were computed from (leapsync.dashboard.store.State).
    """

    name = models.CharField(max_length=300, primary_key=True)
    format = models.PositiveIntegerField()
    state = models.CharField(max_length=100)
    computed_at = models.DateTimeField()
    data = models.BinaryField()

    class Meta:
        verbose_name = "figure set"

    def __str__(self) -> str:
        return f"{self.name} as of {self.computed_at:%Y-%m-%d %H:%M}"
