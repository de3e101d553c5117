"""Server-side SVG charts for the quality dashboard: no chart library, no inline script.

Every piece of markup is built with ``format_html``, which escapes its
arguments (labeler names are user input), so joining those pieces is safe.
Colours are SVG presentation attributes, which the strict CSP allows (it
forbids inline ``style``).
"""

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


def _join(parts: list[str]) -> SafeString:
    # Each part came from format_html (escaped); see the module docstring.
    return mark_safe("".join(parts))  # noqa: S308


def kappa_colour(value: float | None) -> str:
    """Diverging scale: red below 0 (worse than chance), white at 0, blue at 1."""
    if value is None:
        return "#eeeeee"
    v = max(-1.0, min(1.0, value))
    if v >= 0:
        r = g = round(255 - 175 * v)
        return f"#{r:02x}{g:02x}ff"
    g = b = round(255 + 175 * v)
    return f"#ff{g:02x}{b:02x}"


# Axis labels are 11px text (palate.css); a generous average glyph width keeps
# wide names inside the drawing. Longer names are shortened, in full on hover.
CHAR_PX = 7.0
LABEL_CHARS = 24


def axis_label(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "…"


def heatmap_svg(*, names: list[str], matrix: list[list[float | None]], cell: int = 44,
                title: str = "Cohen's kappa between each pair of annotators") -> SafeString:
    """An annotator × annotator matrix of an agreement coefficient in [-1, 1] (Cohen's
    kappa, or Kendall's tau-b for rankings), one labelled cell per pair.

    The margins follow the longest label: the row labels need its length on the
    left, the column labels (rotated 45°) need length × sin 45° above and reach
    as far to the right of their column — a fixed margin cut names off."""
    n = len(names)
    if n == 0:
        return _join([])
    longest = max(len(axis_label(name)) for name in names) * CHAR_PX
    diagonal = round(longest * 0.7072) + 8
    left, top = max(40, round(longest) + 14), max(40, diagonal + 8)
    width, height = left + n * cell + max(10, diagonal - cell // 2), top + n * cell + 10
    parts = [format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" role="img" width="{}" height="{}" '
        'viewBox="0 0 {} {}" aria-labelledby="heatmap-title"><title id="heatmap-title">{}</title>',
        width, height, width, height, title)]
    for i, name in enumerate(names):
        y = top + i * cell + cell / 2 + 4
        label = axis_label(name)
        parts.append(format_html(
            '<text x="{}" y="{}" text-anchor="end" class="axis"><title>{}</title>{}</text>',
            left - 6, y, name, label))
        x = left + i * cell + cell / 2
        parts.append(format_html(
            '<text x="{}" y="{}" text-anchor="start" class="axis" transform="rotate(-45 {} {})">'
            "<title>{}</title>{}</text>", x, top - 8, x, top - 8, name, label))
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            x, y = left + j * cell, top + i * cell
            shown = "—" if value is None else f"{value:.2f}"
            parts.append(format_html(
                '<g class="cell" data-a="{}" data-b="{}" data-kappa="{}"><title>{} × {}: {}</title>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="#ffffff"/>'
                '<text x="{}" y="{}" text-anchor="middle" fill="{}">{}</text></g>',
                names[i], names[j], "" if value is None else f"{value:.3f}", names[i], names[j],
                shown, x, y, cell, cell, kappa_colour(value), x + cell / 2, y + cell / 2 + 4,
                "#ffffff" if value is not None and abs(value) > 0.55 else "#1d2330", shown))
    parts.append(mark_safe("</svg>"))  # noqa: S308 - a constant
    return _join(parts)


def trend_svg(*, periods: list[dict], width: int = 640, height: int = 200) -> SafeString:
    """Krippendorff's alpha (nominal) per period as a line with points; undefined periods are gaps."""
    points = [(k, p["alpha"]) for k, p in enumerate(periods) if p.get("alpha") is not None]
    if not points:
        return _join([])
    left, right, top, bottom = 40, 10, 10, 40
    inner_w, inner_h = width - left - right, height - top - bottom
    lo = min(0.0, min(a for _, a in points))
    step = inner_w / max(len(periods) - 1, 1)

    def xy(k: int, alpha: float) -> tuple[float, float]:
        return (round(left + k * step, 1),
                round(top + inner_h * (1 - (alpha - lo) / (1.0 - lo if lo < 1.0 else 1.0)), 1))

    parts = [format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="trend" role="img" width="{}" height="{}" '
        'viewBox="0 0 {} {}" aria-labelledby="trend-title"><title id="trend-title">'
        "Krippendorff's alpha of the items finished in each period</title>",
        width, height, width, height)]
    for value in (lo, 0.5 if lo < 0.5 else None, 1.0):
        if value is None:
            continue
        _, y = xy(0, value)
        parts.append(format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#d9dce3"/>'
            '<text x="{}" y="{}" text-anchor="end" class="axis">{}</text>',
            left, width - right, y, y, left - 4, y + 4, f"{value:.1f}"))
    path = " ".join(f"{x},{y}" for x, y in (xy(k, a) for k, a in points))
    parts.append(format_html('<polyline points="{}" fill="none" stroke="#3557c9" stroke-width="2"/>',
                             path))
    for k, alpha in points:
        x, y = xy(k, alpha)
        parts.append(format_html(
            '<circle cx="{}" cy="{}" r="4" fill="#3557c9" data-period="{}" data-alpha="{}">'
            "<title>{}: alpha {}, {} items</title></circle>",
            x, y, periods[k]["period"], f"{alpha:.3f}", periods[k]["period"], f"{alpha:.2f}",
            periods[k]["n_items"]))
    for k, period in enumerate(periods):
        if len(periods) <= 12 or k % max(1, len(periods) // 12) == 0:
            x, _ = xy(k, lo)
            parts.append(format_html('<text x="{}" y="{}" text-anchor="middle" class="axis">{}</text>',
                                     x, height - bottom + 18, period["period"]))
    parts.append(mark_safe("</svg>"))  # noqa: S308 - a constant
    return _join(parts)
