"""How the soak's simulated patients score their days, once for the cohort's history
(SQL, bench/cohort_sql.py) and for the phones of the load (Python, bench/soak_locustfile.py),
so that a phone's new day continues its patient's own history instead of jumping.

Pain: each patient has a level of their own (PAIN_LEVEL_SQL, 2 to 5, in the shares of
bench/alert_rate.py's trajectories) and a day scatters around it. The symptoms follow bench/alert_rate.py's trajectories: fatigue
and sleep track the day's pain, the others scatter around low means. Plain data and
arithmetic, no Django: the Locust process imports it too.
"""

from __future__ import annotations

import random

# The patient's own pain level, from the patient's id (the same for every load of a
# cohort): the shares of bench/alert_rate.py's trajectories and their usual pain (controlled
# 30 % around 2; persistent pain on opioids 14 % around 5; deterioration before its rise 8 %,
# missed days 15 % and the gastrointestinal cluster 10 % around 3; neuropathic 10 % and
# survivors 8 % around 4; pump overuse 5 % around 5), as (upper bound of a bucket of 100, level).
PAIN_LEVELS = ((30, 2), (44, 5), (52, 3), (62, 4), (70, 4), (75, 5), (90, 3), (100, 3))
PAIN_LEVEL_SQL = (
    "(CASE "
    + " ".join(f"WHEN abs(hashtext(p.id::text)) % 100 < {bound} THEN {level}" for bound, level in PAIN_LEVELS)
    + " END)"
)
PAIN_SD = 0.8  # a day's pain scatters around the level (bench/alert_rate.py's Person.pain)
# Each interference item: the day's pain, a point lower on average (bench/alert_rate.py).
INTERFERENCE_MEAN, INTERFERENCE_SD = -1.0, 1.5

# code: (mean, standard deviation, whether the mean is added to the day's pain)
SYMPTOMS = {
    "tiredness": (-1.0, 1.5, True),
    "sleep_disturbance": (-2.0, 1.5, True),
    "nausea": (1.0, 1.0, False),
    "appetite_loss": (1.5, 1.2, False),
    "anxiety": (2.0, 1.5, False),
    "depression": (1.5, 1.5, False),
    "drowsiness": (1.5, 1.2, False),
}

# About a standard normal deviate in SQL: the sum of four uniforms, centred and scaled.
_NORMAL_SQL = "((random() + random() + random() + random() - 2) * 1.732)"


def clamp(value: float) -> int:
    return int(max(0, min(10, round(value))))


def day_pain(level: int, rng: random.Random) -> int:
    return clamp(level + rng.gauss(0, PAIN_SD))


def interference(pain: int, items: tuple[str, ...], rng: random.Random) -> dict[str, int]:
    return {item: clamp(pain + INTERFERENCE_MEAN + rng.gauss(0, INTERFERENCE_SD)) for item in items}


def symptoms(pain: int, rng: random.Random) -> dict[str, int]:
    return {
        code: clamp((pain if on_pain else 0) + mean + rng.gauss(0, sd))
        for code, (mean, sd, on_pain) in SYMPTOMS.items()
    }


def day_pain_sql() -> str:
    """The day's pain of patient `p` (psycopg parameters style: `%` doubled)."""
    return f"GREATEST(0, LEAST(10, round({PAIN_LEVEL_SQL} + {PAIN_SD} * {_NORMAL_SQL})))::int".replace(
        "%", "%%"
    )


def interference_item_sql(pain: str) -> str:
    return f"GREATEST(0, LEAST(10, round({pain} {INTERFERENCE_MEAN:+} + {INTERFERENCE_SD} * {_NORMAL_SQL})))::int"


def symptoms_sql(pain: str) -> str:
    """A jsonb object of the symptoms for a day whose pain is the column `pain`."""
    pairs = []
    for code, (mean, sd, on_pain) in SYMPTOMS.items():
        centre = f"{pain} {'-' if mean < 0 else '+'} {abs(mean)}" if on_pain else f"{mean}"
        pairs.append(f"'{code}', GREATEST(0, LEAST(10, round({centre} + {sd} * {_NORMAL_SQL})))::int")
    return f"jsonb_build_object({', '.join(pairs)})"
