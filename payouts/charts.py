"""Small server-side SVG charts for the admin: no script, nothing fetched, readable without colour
(every bar and point carries a <title> with its value, and the figures are also in a table beside the chart)."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 10, 28, 44
INK, MUTED, GRID, MARK = "#1d2433", "#5b6478", "#d9dee8", "#c62828"


def _svg(template: str, *args) -> str:
    """str.format with every text argument escaped (numbers keep their format specs)."""
    return template.format(*(escape(a) if isinstance(a, str) else a for a in args))


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _short(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def line_chart(*, labels: list[str], series: list[tuple[str, str, list[float | None], str]], unit: str, title: str,
               marker: int | None = None, marker_label: str = "runs out") -> SafeString:
    """Lines over labelled points, one per (name, colour, values, dash) series; a None value leaves a gap, and a
    ``dash`` ("" for solid, else an SVG dash array) tells series apart without colour. Every point carries a
    <title> with its value; ``marker`` draws a line at that label."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_ceiling(max([v for _, _, values, _ in series for v in values if v is not None] + [0]))
    step = plot_w / max(len(labels), 1)
    parts = [_svg('<svg class="chart" role="img" viewBox="0 0 {} {}" width="100%" '
                  'preserveAspectRatio="xMinYMin meet"><title>{}</title>', WIDTH, HEIGHT, title)]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        parts.append(_svg('<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="{}"/>'
                          '<text x="{}" y="{:.1f}" font-size="11" text-anchor="end" fill="{}">{}</text>',
                          LEFT, WIDTH - RIGHT, y, y, GRID, LEFT - 6, y + 4, MUTED, _short(top * i / 4)))
    every = max(1, round(len(labels) / 12))
    for index, label in enumerate(labels):
        if index % every == 0:
            parts.append(_svg('<text x="{:.1f}" y="{}" font-size="11" text-anchor="middle" fill="{}">{}</text>',
                              LEFT + step * (index + 0.5), HEIGHT - BOTTOM + 16, MUTED, label))

    def point(index: int, value: float) -> tuple[float, float]:
        return LEFT + step * (index + 0.5), TOP + plot_h - plot_h * max(value, 0) / top

    for name, colour, values, dash in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for index, value in enumerate(values):
            if value is None:
                runs.append([])
            else:
                runs[-1].append(point(index, value))
        for run in runs:
            if len(run) > 1:
                parts.append(_svg('<polyline fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{}" '
                                  'points="{}"/>', colour, dash or "none",
                                  " ".join(f"{x:.1f},{y:.1f}" for x, y in run)))
        for index, value in enumerate(values):
            if value is not None:
                x, y = point(index, value)
                parts.append(_svg('<circle cx="{:.1f}" cy="{:.1f}" r="2.5" fill="{}"><title>{} {}: {:,.2f} {}'
                                  '</title></circle>', x, y, colour, labels[index], name, value, unit))
    if marker is not None:
        x = LEFT + step * (marker + 0.5)
        parts.append(_svg('<line x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}" stroke="{}" stroke-dasharray="4 3"/>'
                          '<text x="{:.1f}" y="{}" font-size="11" text-anchor="middle" fill="{}">{}</text>',
                          x, x, TOP - 4, TOP + plot_h, MARK, x, TOP - 8, MARK, marker_label))
    legend_x = LEFT
    for name, colour, _, dash in series:
        parts.append(_svg('<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="2" '
                          'stroke-dasharray="{}"/><text x="{}" y="{}" font-size="12" fill="{}">{}</text>',
                          legend_x, legend_x + 18, HEIGHT - 10, HEIGHT - 10, colour, dash or "none",
                          legend_x + 22, HEIGHT - 6, INK, name))
        legend_x += 30 + 7 * len(name)
    parts.append(mark_safe("</svg>"))  # noqa: S308 - a literal
    return mark_safe("".join(parts))  # noqa: S308 - every part above escaped its text


def horizontal_bars(rows: list[tuple[str, float, str]], *, title: str, colour: str = "#1f5f99") -> SafeString:
    """One bar per (label, value, value as text) row, longest first as given."""
    row_h, label_w, value_w = 22, 60, 170
    height = TOP + row_h * len(rows) + 8
    plot_w = WIDTH - label_w - value_w
    top = max([value for _, value, _ in rows] + [0]) or 1
    parts = [_svg('<svg class="chart" role="img" viewBox="0 0 {} {}" width="100%" '
                         'preserveAspectRatio="xMinYMin meet"><title>{}</title>', WIDTH, height, title),
             _svg('<text x="0" y="16" font-size="12" fill="{}">{}</text>', INK, title)]
    for index, (label, value, text) in enumerate(rows):
        y = TOP + row_h * index
        width = max(plot_w * value / top, 1 if value else 0)
        parts.append(_svg(
            '<text x="{}" y="{}" font-size="12" text-anchor="end" fill="{}">{}</text>'
            '<rect x="{}" y="{}" width="{:.1f}" height="{}" fill="{}"><title>{}: {}</title></rect>'
            '<text x="{:.1f}" y="{}" font-size="12" fill="{}">{}</text>',
            label_w - 8, y + 14, INK, label, label_w, y + 3, width, row_h - 6, colour, label, text,
            label_w + width + 6, y + 14, MUTED, text))
    parts.append(mark_safe("</svg>"))  # noqa: S308 - a literal
    return mark_safe("".join(parts))  # noqa: S308 - every part above escaped its text


__all__ = ["horizontal_bars", "line_chart"]
