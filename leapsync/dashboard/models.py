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


class DailyCount(models.Model):
    """One day's count of one value of one series (meters ACTIVE on 2026-11-20...).

    Written only by the read side (leapsync.dashboard.history): today's row by every figures
    refresh, the previous days by the daily task, and days before the first snapshot rebuilt
    from history (`rebuilt`). `series` is `global_status`, `program:<program_identifier>`,
    `mapping` or `inventory`; `key` the counted value (a status, `mapped`...).
    """

    day = models.DateField()
    series = models.CharField(max_length=100)
    key = models.CharField(max_length=64)
    count = models.PositiveIntegerField()
    # Rebuilt from history after the day, rather than counted from the live tables then.
    rebuilt = models.BooleanField(default=False)

    class Meta:
        ordering = ["day", "series", "key"]
        constraints = [
            models.UniqueConstraint(fields=["day", "series", "key"], name="daily_count_key"),
        ]
        # The unique constraint's index serves the Trends page's read (day >= ... ORDER BY
        # day) and the writers' per-day replace (day = ...).

    def __str__(self) -> str:
        return f"{self.day} {self.series} {self.key}: {self.count}"
