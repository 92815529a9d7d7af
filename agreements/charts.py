"""Charts and maps drawn on the server as inline SVG.

Pure functions of plain data (no database access): each returns a ``SafeString``
of SVG markup with a ``<title>`` and ``<desc>``; the page shows the same figures
in a table next to it for people who cannot see the chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# (column, row) of each state in an 11 x 8 tile grid shaped like the US.
TILE_GRID: dict[str, tuple[int, int]] = {
    "AK": (0, 0), "ME": (10, 0),
    "VT": (9, 1), "NH": (10, 1),
    "WA": (0, 2), "ID": (1, 2), "MT": (2, 2), "ND": (3, 2), "MN": (4, 2), "IL": (5, 2),
    "WI": (6, 2), "MI": (7, 2), "NY": (8, 2), "RI": (9, 2), "MA": (10, 2),
    "OR": (0, 3), "NV": (1, 3), "WY": (2, 3), "SD": (3, 3), "IA": (4, 3), "IN": (5, 3),
    "OH": (6, 3), "PA": (7, 3), "NJ": (8, 3), "CT": (9, 3),
    "CA": (0, 4), "UT": (1, 4), "CO": (2, 4), "NE": (3, 4), "MO": (4, 4), "KY": (5, 4),
    "WV": (6, 4), "VA": (7, 4), "MD": (8, 4), "DE": (9, 4),
    "AZ": (1, 5), "NM": (2, 5), "KS": (3, 5), "AR": (4, 5), "TN": (5, 5), "NC": (6, 5),
    "SC": (7, 5), "DC": (8, 5),
    "OK": (3, 6), "LA": (4, 6), "MS": (5, 6), "AL": (6, 6), "GA": (7, 6),
    "HI": (0, 7), "TX": (3, 7), "FL": (8, 7), "PR": (10, 7), "GU": (0, 6), "VI": (10, 6),
}  # fmt: skip

# Sequential blues, light to dark; the last three take white text (contrast >= 5:1).
SCALE = ["#eef3f8", "#c6dbef", "#9ecae1", "#6baed6", "#2171b5", "#1c5e9c", "#08306b"]
MODEL_COLOURS = {"JEM": "#1f77b4", "TFM": "#d62728", "WSO": "#23822a"}


def _bucket(value: int, maximum: int) -> int:
    """Index into SCALE: 0 for zero, then steps on a square-root scale.

    A square root keeps one very large state (Florida holds a third of all
    agreements) from washing every other state out to the palest shade.
    """
    if value <= 0 or maximum <= 0:
        return 0
    return min(len(SCALE) - 1, 1 + int(math.sqrt(value / maximum) * (len(SCALE) - 2) + 0.5))


def tile_map(
    counts: Mapping[str, int],
    *,
    title: str,
    link: Callable[[str], str] | None = None,
    tile: int = 44,
    gap: int = 4,
) -> SafeString:
    """A US tile-grid map: one square per state, shaded by ``counts[state]``.

    Each tile links to ``link(state)`` when given, and carries the state code, its
    count, and a tooltip title for hover and screen readers.
    """
    maximum = max(counts.values(), default=0)
    cols = 1 + max(c for c, _ in TILE_GRID.values())
    rows = 1 + max(r for _, r in TILE_GRID.values())
    width, height = cols * (tile + gap), rows * (tile + gap)
    parts = [
        # role="group", not "img": an image's children are hidden from screen
        # readers, and the tiles are links to the state pages.
        f'<svg class="chart tile-map" viewBox="0 0 {width} {height}" role="group" '
        f'aria-labelledby="map-title map-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="map-title">{escape(title)}</title>',
        f'<desc id="map-desc">Tile map of US states; darker tiles have more agreements. '
        f"The highest count is {maximum}; shades follow a square-root scale. "
        f"The table below gives every figure.</desc>",
    ]
    for state, (col, row) in TILE_GRID.items():
        value = int(counts.get(state, 0))
        if value == 0 and state in {"GU", "VI", "PR"}:
            continue
        shade = _bucket(value, maximum)
        fill = SCALE[shade]
        ink = "#ffffff" if shade >= 4 else "#1b1f24"
        x, y = col * (tile + gap), row * (tile + gap)
        label = f"{state}: {value} agreement{'s' if value != 1 else ''}"
        tile_svg = (
            f'<rect x="{x}" y="{y}" width="{tile}" height="{tile}" rx="4" fill="{fill}" '
            f'stroke="#8c99a6" stroke-width="0.5"/>'
            f'<text x="{x + tile / 2}" y="{y + tile * 0.42}" text-anchor="middle" '
            f'font-size="12" font-weight="600" fill="{ink}">{state}</text>'
            f'<text x="{x + tile / 2}" y="{y + tile * 0.8}" text-anchor="middle" '
            f'font-size="12" fill="{ink}">{value}</text>'
        )
        if link is not None and value:
            parts.append(
                f'<a href="{escape(link(state))}" aria-label="{escape(label)}">'
                f"<title>{escape(label)}</title>{tile_svg}</a>"
            )
        else:
            parts.append(f"<g><title>{escape(label)}</title>{tile_svg}</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- every value above is escaped or numeric


def monthly_bars(
    months: Sequence[date],
    series: Mapping[str, Sequence[int]],
    *,
    title: str,
    width: int = 720,
    height: int = 260,
) -> SafeString:
    """Stacked monthly bars, one colour per model; ``series[model][i]`` is month i."""
    left, right, top, bottom = 36, 8, 10, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(months))]
    maximum = max(totals, default=0) or 1
    step = _nice_step(maximum)
    top_value = step * -(-maximum // step)
    slot = plot_w / max(len(months), 1)
    bar = max(slot * 0.75, 1)
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="bars-title bars-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="bars-title">{escape(title)}</title>',
        f'<desc id="bars-desc">Stacked bars per month, coloured by model; the highest month '
        f"has {max(totals, default=0)} signings. The table below gives every figure.</desc>",
    ]
    for tick in range(0, top_value + 1, step):
        y = top + plot_h - plot_h * tick / top_value
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d0d7de" stroke-width="1"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#4a5560">{tick}</text>'
        )
    for i, month in enumerate(months):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        pieces = []
        for model, values in series.items():
            value = values[i]
            if not value:
                continue
            h = plot_h * value / top_value
            y -= h
            pieces.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{MODEL_COLOURS.get(model, "#777")}"/>'
            )
        label = f"{month:%B %Y}: " + ", ".join(
            f"{model} {values[i]}" for model, values in series.items()
        )
        parts.append(f"<g><title>{escape(label)}</title>{''.join(pieces)}</g>")
        if month.month == 1 or i == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f'font-size="11" fill="#4a5560">{month:%Y}</text>'
            )
    for j, model in enumerate(series):
        x = left + j * 70
        parts.append(
            f'<rect x="{x}" y="{height - 14}" width="10" height="10" '
            f'fill="{MODEL_COLOURS.get(model, "#777")}"/>'
            f'<text x="{x + 14}" y="{height - 5}" font-size="11" fill="#1b1f24">'
            f"{escape(model)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- every value above is escaped or numeric


def _nice_step(maximum: int) -> int:
    """A round gridline step giving about four lines up to ``maximum``."""
    raw = max(maximum / 4, 1)
    magnitude = 10 ** (len(str(int(raw))) - 1)
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude
