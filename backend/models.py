from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """The last time a periodic task ran: one row per beating process kind ("worker").

    In the database rather than the cache, so that a Redis restart neither loses it nor
    makes a dead worker look alive."""

    name = models.CharField(primary_key=True, max_length=40)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at.isoformat()}"
