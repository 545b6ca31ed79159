"""Server-rendered SVG charts: the triage row's 7-day sparkline and the patient's 28 days.
No JavaScript, no external assets, readable when printed; a table carries the same values."""

from __future__ import annotations

from django.utils.formats import date_format
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _


def _polyline(points: list[tuple[float, float]], css_class: str) -> SafeString:
    coords = " ".join(f"{x},{y}" for x, y in points)
    return format_html('<polyline class="{}" points="{}" fill="none"/>', css_class, coords)


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


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _segments(points: list[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive days with a value: a day without a diary breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if run]


# Presentation attributes rather than only CSS classes: the same drawing in the browser,
# on paper and in WeasyPrint's PDF, whose SVG renderer does not read the page's CSS.
WORST = 'stroke="#b71c1c" stroke-width="2"'
AVERAGE = 'stroke="#1565c0" stroke-width="2" stroke-dasharray="5 3" fill="none"'


def day_chart(days: list[dict], alert_days: dict, *, width: int = 760, height: int = 310) -> SafeString:
    """The patient's 28 days in one SVG with a real date axis: day pain worst (solid line,
    dots) and average (dashed, squares) on 0-10, daily oral MME as bars on the right axis,
    PTA boluses delivered / denied as counts under the days, alerts as triangles on top.
    Shapes and dashes as well as colours, so that it reads in black-and-white print.

    `alert_days` maps a local date to the alert labels raised that day."""
    left, right, top, pain_bottom = 40, width - 52, 30, height - 84
    band_y, label_y = height - 58, height - 22
    n = max(len(days), 1)
    dx = (right - left) / n

    def x(i: int) -> float:
        return round(left + (i + 0.5) * dx, 1)

    def y(value: float) -> float:
        return round(pain_bottom - value * (pain_bottom - top) / 10, 1)

    max_mme = max((d["mme"] or 0 for d in days), default=0)
    mme_top = max(10, -(-max_mme // 10) * 10) if max_mme else 10
    parts: list[str] = []
    for level in (0, 2, 4, 6, 8, 10):
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y(level)}" y2="{y(level)}" class="grid" stroke="#d5dae0"/>'
            f'<text x="{left - 6}" y="{y(level) + 4}" class="axis" font-size="11" fill="#3d4753" text-anchor="end">{level}</text>'
        )
    for fraction in (0, 0.5, 1):
        parts.append(
            f'<text x="{right + 6}" y="{y(10 * fraction) + 4}" class="axis" font-size="11" fill="#3d4753">{_fmt(mme_top * fraction)}</text>'
        )
    pain_axis, mme_axis = escape(_("Pain 0-10")), escape(_("MME mg/day"))
    parts.append(
        f'<text x="{left - 30}" y="{top - 12}" class="axis" font-size="11" fill="#3d4753">{pain_axis}</text>'
        f'<text x="{right + 52}" y="{top - 12}" class="axis" font-size="11" fill="#3d4753" text-anchor="end">{mme_axis}</text>'
    )
    for i, day in enumerate(days):
        label = escape(date_format(day["date"], "j M"))
        parts.append(
            f'<line x1="{x(i)}" x2="{x(i)}" y1="{pain_bottom}" y2="{pain_bottom + 4}" class="grid" stroke="#d5dae0"/>'
        )
        if (len(days) - 1 - i) % 7 == 0:
            parts.append(
                f'<line x1="{x(i)}" x2="{x(i)}" y1="{top}" y2="{pain_bottom}" class="grid" stroke="#d5dae0"/>'
                f'<text x="{x(i)}" y="{label_y}" class="axis" font-size="11" fill="#3d4753" text-anchor="middle">{label}</text>'
            )
        if day["mme"]:
            h = round(day["mme"] / mme_top * (pain_bottom - top), 1)
            parts.append(
                f'<rect x="{round(x(i) - dx * 0.3, 1)}" y="{round(pain_bottom - h, 1)}" width="{round(dx * 0.6, 1)}" '
                f'height="{h}" class="mme" fill="#7e57c2" opacity="0.35"><title>{label}: {_fmt(day["mme"])} MME</title></rect>'
            )
        boluses = day["boluses"]
        if boluses["delivered"]:
            parts.append(
                f'<circle cx="{round(x(i) - dx * 0.22, 1)}" cy="{band_y}" r="{round(min(dx * 0.22, 6), 1)}" class="pta-ok" fill="#2e7d32"/>'
                f'<text x="{round(x(i) - dx * 0.22, 1)}" y="{band_y + 16}" class="axis" font-size="11" fill="#3d4753" text-anchor="middle">{boluses["delivered"]}</text>'
            )
        if boluses["denied"]:
            cx, size = round(x(i) + dx * 0.22, 1), round(min(dx * 0.22, 6), 1)
            parts.append(
                f'<polygon points="{cx},{band_y - size} {cx + size},{band_y + size} {cx - size},{band_y + size}" class="pta-denied" fill="#ef6c00"/>'
                f'<text x="{cx}" y="{band_y + 16}" class="axis" font-size="11" fill="#3d4753" text-anchor="middle">{boluses["denied"]}</text>'
            )
        if alert_days.get(day["date"]):
            names = escape(", ".join(str(name) for name in alert_days[day["date"]]))
            parts.append(
                f'<polygon points="{x(i)},{top - 2} {x(i) + 6},{top - 12} {x(i) - 6},{top - 12}" class="alert-mark" fill="#b71c1c">'
                f"<title>{label}: {names}</title></polygon>"
            )
    worst = [(x(i), y(d["pain_worst"])) if d["pain_worst"] is not None else None for i, d in enumerate(days)]
    average = [
        (x(i), y(d["pain_average"])) if d["pain_average"] is not None else None for i, d in enumerate(days)
    ]
    for run in _segments(average):
        parts.append(f'<polyline class="average" {AVERAGE} points="{" ".join(f"{a},{b}" for a, b in run)}"/>')
    for run in _segments(worst):
        parts.append(
            f'<polyline class="worst" {WORST} fill="none" points="{" ".join(f"{a},{b}" for a, b in run)}"/>'
        )
    for point in filter(None, average):
        parts.append(
            f'<rect x="{point[0] - 3}" y="{point[1] - 3}" width="6" height="6" class="average" stroke="#1565c0" stroke-width="2" fill="#fff"/>'
        )
    for i, point in enumerate(worst):
        if point:
            parts.append(
                f'<circle cx="{point[0]}" cy="{point[1]}" r="3.5" class="worst" fill="#b71c1c">'
                f"<title>{escape(date_format(days[i]['date'], 'j M'))}: {days[i]['pain_worst']}</title></circle>"
            )
    title = escape(
        _(
            "Last %(days)s days: day pain worst and average (0-10), daily oral morphine equivalents, "
            "pump boluses delivered and denied, alerts. The same values are in the table below."
        )
        % {"days": len(days)}
    )
    return format_html(
        '<svg role="img" aria-label="{}" viewBox="0 0 {} {}" class="chart" id="day-chart">{}</svg>',
        title,
        width,
        height,
        SafeString("".join(parts)),
    )
