"""Small plots as inline SVG, drawn in Python so a report needs no charting library."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 360, 170
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 16, 34
BAR_COLOUR = "#3b6fb6"


def _label(value: float) -> str:
    return f"{value:.3g}"


def histogram(values: Sequence[float], *, title: str, bins: int = 20, signed: bool = False) -> str:
    """A histogram of ``values``: one bar per distinct value when there are
    few (a 0/1 metric gets two bars), ``bins`` equal bins otherwise."""
    if not values:
        return f'<p class="muted">{escape(title)}: no values.</p>'
    distinct = sorted(set(values))
    if len(distinct) <= 11:
        labels = [_label(v) for v in distinct]
        counts = [0] * len(distinct)
        index = {v: i for i, v in enumerate(distinct)}
        for v in values:
            counts[index[v]] += 1
    else:
        low, high = distinct[0], distinct[-1]
        width = (high - low) / bins
        counts = [0] * bins
        for v in values:
            counts[min(int((v - low) / width), bins - 1)] += 1
        labels = [_label(low + i * width) for i in range(bins)]
        labels[-1] = _label(high)
    return _bars(
        labels, counts, title=f"{title} (n={len(values)})", total=len(values), signed=signed
    )


def _bars(labels: list[str], counts: list[int], *, title: str, total: int, signed: bool) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    peak = max(counts) or 1
    slot = plot_w / len(counts)
    gap = min(4.0, slot * 0.15)
    parts = [
        f'<svg class="plot" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}">',  # inline SVG in HTML needs no xmlns (and no URL)
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'stroke="#888"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" class="tick">{peak}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" class="tick">0</text>',
    ]
    every = max(1, len(labels) // 6)
    for i, (label, count) in enumerate(zip(labels, counts, strict=True)):
        height = plot_h * count / peak
        x = LEFT + i * slot + gap / 2
        colour = BAR_COLOUR
        if signed:
            colour = "#b64a3b" if label.startswith("-") else "#3b8f4a" if label != "0" else "#888"
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{slot - gap:.1f}" '
            f'height="{height:.1f}" fill="{colour}"><title>{escape(label)}: {count} of '
            f"{total}</title></rect>"
        )
        if len(labels) <= 11 and count:
            parts.append(
                f'<text x="{x + (slot - gap) / 2:.1f}" y="{TOP + plot_h - height - 3:.1f}" '
                f'text-anchor="middle" class="tick">{count}</text>'
            )
        if i % every == 0 or i == len(labels) - 1:
            parts.append(
                f'<text x="{x + (slot - gap) / 2:.1f}" y="{TOP + plot_h + 14}" '
                f'text-anchor="middle" class="tick">{escape(label)}</text>'
            )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 4}" text-anchor="middle" class="axis">'
        f"{escape(title)}</text></svg>"
    )
    return "".join(parts)
