"""Hand-written inline SVG charts, so the HTML report needs no JavaScript, CDN or plotting library."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

REF_COLOR = "#4c78a8"
CUR_COLOR = "#f58518"
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d")


def number(v: float | None, digits: int = 4) -> str:
    """A number for people: never scientific notation (19,230 not 1.923e+04; <0.0001 for tiny values),
    ``digits`` significant digits below 1,000, "–" for missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    v = float(v)
    if not math.isfinite(v):
        return "−∞" if v < 0 else "∞"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a < 1e-4:
        return "<0.0001" if v > 0 else ">−0.0001"
    # Between 1e-4 and 1000 the exponent is within [-4, digits), so 'g' stays in fixed notation.
    return f"{v:.{max(digits, 3)}g}"


def _fmt(v: float) -> str:
    return number(v, 3)


def bars(labels: Sequence[str], reference: Sequence[float], current: Sequence[float], *, title: str = "",
         width: int = 520, height: int = 220) -> str:
    """Grouped bar chart of reference vs current shares per bin/category."""
    n = max(len(labels), 1)
    left, bottom, top = 44, 46, 22
    plot_w, plot_h = width - left - 10, height - bottom - top
    ymax = max([*reference, *current, 1e-9]) * 1.1
    slot = plot_w / n
    bw = max(slot * 0.38, 1.0)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
              f'aria-label="{escape(title)}" style="background:#fff">'),
             f'<text x="{left}" y="14" font-size="12" font-family="sans-serif">{escape(title)}</text>']
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
                     f'font-family="sans-serif">{ymax * frac:.2f}</text>')
    for i, lab in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for j, (vals, color) in enumerate(((reference, REF_COLOR), (current, CUR_COLOR))):
            h = plot_h * (vals[i] / ymax) if ymax > 0 else 0
            parts.append(f'<rect class="bar" x="{x0 + j * bw:.1f}" y="{top + plot_h - h:.1f}" width="{bw:.1f}" '
                         f'height="{h:.1f}" fill="{color}"><title>{escape(lab)}: {vals[i]:.4f}</title></rect>')
        if n <= 16 or i % math.ceil(n / 16) == 0:
            tx, ty = x0 + bw, top + plot_h + 12
            parts.append(f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="9" font-family="sans-serif" '
                         f'text-anchor="end" transform="rotate(-35 {tx:.1f} {ty:.1f})">{escape(lab[:18])}</text>')
    parts.append(_legend(width - 170, 4, [("reference", REF_COLOR), ("current", CUR_COLOR)]))
    parts.append("</svg>")
    return "".join(parts)


def lines(x_labels: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str = "", width: int = 760,
          height: int = 240, hline: float | None = None) -> str:
    """Line chart of several series over windows; NaN points break the line. ``hline`` draws a
    dashed threshold."""
    left, bottom, top = 56, 40, 22
    plot_w, plot_h = width - left - 150, height - bottom - top
    series = _merge_identical(series)
    vals = [v for s in series.values() for v in s if math.isfinite(v)]
    if hline is not None:
        vals.append(hline)
    ymin, ymax = (min(vals), max(vals)) if vals else (0.0, 1.0)
    ymin = min(ymin, 0.0)
    if ymax - ymin < 1e-12:
        ymax = ymin + 1.0
    n = max(len(x_labels), 1)

    def px(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def py(v: float) -> float:
        return top + plot_h * (1 - (v - ymin) / (ymax - ymin))

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
              f'aria-label="{escape(title)}" style="background:#fff">'),
             f'<text x="{left}" y="14" font-size="12" font-family="sans-serif">{escape(title)}</text>']
    for frac in (0.0, 0.5, 1.0):
        v = ymin + (ymax - ymin) * frac
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 4}" y="{py(v) + 4:.1f}" font-size="10" text-anchor="end" '
                     f'font-family="sans-serif">{_fmt(v)}</text>')
    if hline is not None:
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(hline):.1f}" y2="{py(hline):.1f}" '
                     f'stroke="#e45756" stroke-dasharray="4 3"/>')
    legend = []
    for k, (name, ys) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        legend.append((name, color))
        seg: list[str] = []
        for i, v in enumerate(ys):
            if math.isfinite(v):
                seg.append(f"{px(i):.1f},{py(v):.1f}")
                parts.append(f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="2.5" fill="{color}">'
                             f'<title>{escape(name)} {escape(x_labels[i])}: {_fmt(v)}</title></circle>')
            elif seg:
                parts.append(f'<polyline class="series" points="{" ".join(seg)}" fill="none" stroke="{color}"/>')
                seg = []
        if seg:
            parts.append(f'<polyline class="series" points="{" ".join(seg)}" fill="none" stroke="{color}" '
                         f'stroke-width="1.5"/>')
    step = math.ceil(n / 8)
    for i, lab in enumerate(x_labels):
        if i % step == 0:
            parts.append(f'<text x="{px(i):.1f}" y="{top + plot_h + 14}" font-size="9" text-anchor="middle" '
                         f'font-family="sans-serif">{escape(lab[:16])}</text>')
    parts.append(_legend(left + plot_w + 10, top, legend))
    parts.append("</svg>")
    return "".join(parts)


def _merge_identical(series: Mapping[str, Sequence[float]]) -> dict[str, Sequence[float]]:
    """Draw a series equal to an earlier one once, named "a = b": otherwise the later line hides the earlier
    one (TTFT p95 drawn over latency p95 when the model is not streamed)."""
    out: dict[str, Sequence[float]] = {}
    for name, ys in series.items():
        twin = next((k for k, v in out.items() if len(v) == len(ys) and all(
            (a == b) or (math.isnan(a) and math.isnan(b)) for a, b in zip(v, ys, strict=True))), None)
        if twin is None:
            out[name] = ys
        else:
            out[f"{twin} = {name}"] = out.pop(twin)
    return out


def _legend(x: float, y: float, items: Sequence[tuple[str, str]]) -> str:
    out = []
    for i, (name, color) in enumerate(items):
        yy = y + i * 14
        out.append(f'<rect x="{x}" y="{yy + 2}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14}" y="{yy + 11}" font-size="10" font-family="sans-serif">{escape(name[:22])}</text>')
    return "".join(out)
