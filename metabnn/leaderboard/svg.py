"""The forgetting-curve figure of a run as a small inline SVG, byte for byte reproducible.

The same picture as :func:`metabnn.figures.forgetting_curves` (test accuracy of every task after
every epoch over the whole stream, dashed lines at the experience boundaries), written as text
with fixed number formatting, so that a leaderboard page embeds it without matplotlib, without
fonts or ids that vary between versions, and identically on every rebuild.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["forgetting_svg", "summary_svg", "PALETTE"]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
"""matplotlib's tab10, as :func:`metabnn.figures.forgetting_curves` colours tasks."""

_W, _H = 420, 220
_L, _R, _T, _B = 40, 80, 14, 30  # margins: left (y labels), right (legend), top, bottom


def _f(x: float) -> str:
    return f"{x:.1f}"


def forgetting_svg(curves: list[dict[str, Any]], title: str = "") -> str:
    """``<svg>`` text: accuracy (%) of each task vs epoch, one polyline per task.

    ``curves`` is ``results["curves"]``: one ``{"experience", "epoch", "accuracy": [...]}`` per
    epoch of the whole stream.
    """
    n = len(curves)
    tasks = len(curves[0]["accuracy"]) if curves else 0
    pw, ph = _W - _L - _R, _H - _T - _B

    def x(step: int) -> float:  # step 1..n, centred in its slot
        return _L + pw * (step - 0.5) / max(n, 1)

    def y(acc: float) -> float:
        return _T + ph * (1.0 - acc)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
           f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>",
           f'<rect x="{_L}" y="{_T}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>']
    for pct in (0, 25, 50, 75, 100):
        yy = _f(y(pct / 100))
        out.append(f'<line x1="{_L}" y1="{yy}" x2="{_L + pw}" y2="{yy}" stroke="#eee"/>'
                   f'<text x="{_L - 4}" y="{yy}" font-size="9" text-anchor="end" '
                   f'dominant-baseline="middle">{pct}</text>')
    for step, row in enumerate(curves, start=1):
        if step > 1 and row["epoch"] == 0:  # an experience starts: the boundary
            xb = _f(x(step) - pw / max(n, 1) / 2)
            out.append(f'<line x1="{xb}" y1="{_T}" x2="{xb}" y2="{_T + ph}" stroke="#555" '
                       f'stroke-dasharray="4 3"/>')
    for task in range(tasks):
        colour = PALETTE[task % len(PALETTE)]
        points = " ".join(f"{_f(x(s))},{_f(y(row['accuracy'][task]))}"
                          for s, row in enumerate(curves, start=1))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                   f'points="{points}"/>')
        ly = _T + 12 + 14 * task
        out.append(f'<line x1="{_L + pw + 8}" y1="{ly}" x2="{_L + pw + 22}" y2="{ly}" '
                   f'stroke="{colour}" stroke-width="2"/><text x="{_L + pw + 26}" y="{ly}" '
                   f'font-size="10" dominant-baseline="middle">task {task}</text>')
    out.append(f'<text x="{_L + pw / 2:.1f}" y="{_H - 6}" font-size="10" text-anchor="middle">'
               "epoch over the stream (dashed: experience boundaries)</text>")
    out.append(f'<text x="10" y="{_T + ph / 2:.1f}" font-size="10" text-anchor="middle" '
               f'transform="rotate(-90 10 {_T + ph / 2:.1f})">test accuracy (%)</text>')
    out.append("</svg>")
    return "".join(out)


def summary_svg(points: list[tuple[int, str, float, float | None, float, float | None]],
                title: str = "") -> str:
    """``<svg>`` text: one mark per row at (mean forgetting, mean final average accuracy), both
    in percent, with ±1 sample standard deviation over seeds as error bars on each axis (none
    for a single seed), labelled by the row's rank.

    ``points``: ``(rank, name, forgetting, forgetting_std, accuracy, accuracy_std)`` as
    fractions; rows without a forgetting value (``joint``: no sequence to forget) are the
    caller's to leave out.
    """
    w, h, left, right, top, bottom = 460, 300, 44, 14, 14, 34
    pw, ph = w - left - right, h - top - bottom
    xmax = max([10.0] + [100 * (f + (fs or 0.0)) for _, _, f, fs, _, _ in points])
    xmax = 10.0 * -(-xmax // 10)
    ymin = min([90.0] + [100 * (a - (s or 0.0)) for _, _, _, _, a, s in points])
    ymin = max(0.0, 10.0 * (ymin // 10))

    def x(v: float) -> float:
        return left + pw * (100 * v) / xmax

    def y(v: float) -> float:
        return top + ph * (1.0 - (100 * v - ymin) / (100.0 - ymin))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>",
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>']
    ystep = 10.0 if 100.0 - ymin <= 60 else 20.0
    yv = 100.0
    while yv >= ymin:
        yy = _f(y(yv / 100))
        out.append(f'<line x1="{left}" y1="{yy}" x2="{left + pw}" y2="{yy}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{yy}" font-size="9" text-anchor="end" '
                   f'dominant-baseline="middle">{yv:g}</text>')
        yv -= ystep
    xstep, xv = (10.0 if xmax <= 60 else 20.0), 0.0
    while xv <= xmax:
        xx = _f(x(xv / 100))
        out.append(f'<text x="{xx}" y="{top + ph + 12}" font-size="9" '
                   f'text-anchor="middle">{xv:g}</text>')
        xv += xstep
    for rank, name, f, fs, a, s in points:
        colour = PALETTE[(rank - 1) % len(PALETTE)]
        cx, cy = x(f), y(a)
        if fs:
            out.append(f'<line x1="{_f(x(f - fs))}" y1="{_f(cy)}" x2="{_f(x(f + fs))}" '
                       f'y2="{_f(cy)}" stroke="{colour}"/>')
        if s:
            out.append(f'<line x1="{_f(cx)}" y1="{_f(y(a - s))}" x2="{_f(cx)}" '
                       f'y2="{_f(y(a + s))}" stroke="{colour}"/>')
        out.append(f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="3.5" fill="{colour}">'
                   f"<title>{rank}. {escape(name)}</title></circle>"
                   f'<text x="{_f(cx + 5)}" y="{_f(cy - 5)}" font-size="10">{rank}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{h - 6}" font-size="10" '
               'text-anchor="middle">forgetting (%, lower is better)</text>')
    out.append(f'<text x="10" y="{top + ph / 2:.1f}" font-size="10" text-anchor="middle" '
               f'transform="rotate(-90 10 {top + ph / 2:.1f})">final average accuracy (%)</text>')
    out.append("</svg>")
    return "".join(out)
