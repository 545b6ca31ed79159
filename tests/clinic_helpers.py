"""What the clinic tests post through the API, as a phone would."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.utils import timezone


def post_red_flag(client, flag: str = "saddle_numbness", pain: int = 7) -> dict:
    body = {
        "id": str(uuid.uuid4()),
        "recorded_at": (timezone.now() - timedelta(minutes=5)).isoformat(),
        "pain_now": pain,
        "red_flags": [flag],
    }
    response = client.post("/api/v1/diary/checkins/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()
