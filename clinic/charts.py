"""A small inline SVG of day pain (worst and average) over the summary's days: no
JavaScript, no external assets, readable when printed."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

WIDTH, HEIGHT, PAD = 560, 180, 24


def _points(values: list[float | None]) -> list[tuple[float, float]]:
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    return [
        (round(PAD + i * step, 1), round(HEIGHT - PAD - value * (HEIGHT - 2 * PAD) / 10, 1))
        for i, value in enumerate(values)
        if value is not None
    ]


def _polyline(points: list[tuple[float, float]], css_class: str) -> SafeString:
    coords = " ".join(f"{x},{y}" for x, y in points)
    return format_html('<polyline class="{}" points="{}" fill="none"/>', css_class, coords)


def pain_chart(days: list[dict]) -> SafeString:
    worst = _points([d["pain_worst"] for d in days])
    average = _points([d["pain_average"] for d in days])
    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/><text x="4" y="{}" class="axis">{}</text>',
        (
            (PAD, WIDTH - PAD, y, y, y + 4, level)
            for level in (0, 5, 10)
            for y in [HEIGHT - PAD - level * (HEIGHT - 2 * PAD) / 10]
        ),
    )
    dots = format_html_join("", '<circle cx="{}" cy="{}" r="3" class="worst"/>', worst)
    title = _("Day pain over the last %(days)s days: worst (red) and average (blue)") % {"days": len(days)}
    return format_html(
        '<svg role="img" aria-label="{}" viewBox="0 0 {} {}" class="chart">{}{}{}{}</svg>',
        title,
        WIDTH,
        HEIGHT,
        grid,
        _polyline(worst, "worst"),
        _polyline(average, "average"),
        dots,
    )


SPARK_W, SPARK_H = 84, 24


def trend_word(slope: float | None) -> str:
    """The 7-day slope of day pain in one word. About two points over a week is a change a
    patient feels (IMMPACT: 2 points on the 0-10 NRS is clinically important)."""
    if slope is None:
        return _("no data")
    if slope >= 0.3:
        return _("worsening")
    if slope <= -0.3:
        return _("improving")
    return _("stable")


def sparkline(values: list[int | None], word: str) -> SafeString:
    """Seven days of day pain (0-10) as a tiny line; the word beside it says the same."""
    step = SPARK_W / max(len(values) - 1, 1)
    points = [
        (round(i * step, 1), round(SPARK_H - 2 - value * (SPARK_H - 4) / 10, 1))
        for i, value in enumerate(values)
        if value is not None
    ]
    label = _("Day pain over 7 days: %(word)s") % {"word": word}
    dots = format_html_join("", '<circle cx="{}" cy="{}" r="1.8" class="worst"/>', points)
    return format_html(
        '<svg role="img" aria-label="{}" viewBox="-2 0 {} {}" class="spark">{}{}</svg>',
        label,
        SPARK_W + 4,
        SPARK_H,
        _polyline(points, "spark-line"),
        dots,
    )
