"""Seaborn figures of a run and of a sweep, each written as PNG and SVG.

* :func:`forgetting_curves` — test accuracy of every task after every epoch over the whole
  stream (``results["curves"]``), with the experience boundaries marked: a task's curve rises
  while it trains and its fall afterwards is the forgetting.
* :func:`accuracy_heatmap` — the accuracy matrix :math:`R_{ij}` (test accuracy on task ``j``
  after experience ``i``), annotated in percent.
* :func:`sweep_plot` — a sweep's metric (e.g. final average accuracy) against the swept
  parameter, mean :math:`\\pm` one standard deviation over seeds, one line per group.

Figures are built with matplotlib's object API (no pyplot state, no backend switch) inside
seaborn's style context managers, so importing or calling this module changes no global settings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "RUN_FIGURES",
    "forgetting_curves",
    "accuracy_heatmap",
    "sweep_plot",
    "sweep_summary",
    "save_figure",
    "write_run_figures",
]

RUN_FIGURES = ("forgetting_curves", "accuracy_matrix")
"""File stems of the figures written into every run folder (each as .png and .svg)."""

_DPI = 150


def _figure(width_in: float, height_in: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    return fig, fig.add_subplot()


def save_figure(fig: Any, stem: str | os.PathLike[str]) -> list[Path]:
    """``stem.png`` (150 dpi) and ``stem.svg`` (text kept as text, no timestamp)."""
    import matplotlib

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=_DPI)
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(paths[1], metadata={"Date": None})
    return paths


def _style():
    import seaborn as sns

    return sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9)


def _title(results: dict[str, Any]) -> str:
    c = results.get("config", {})
    meta = (c.get("optim") or {}).get("meta")
    return (f"{c.get('strategy', '?')} on {(c.get('stream') or {}).get('name', '?')}"
            f" (m = {meta}, seed {c.get('seed', '?')}) · {results.get('stamp', '')}")


def forgetting_curves(results: dict[str, Any]) -> Any:
    """Accuracy (%) of each task vs epoch over the whole stream; dashed lines at boundaries.

    Returns the matplotlib ``Figure`` (:func:`save_figure` writes it).
    """
    import seaborn as sns

    curves = results["curves"]
    n_tasks = len(curves[0]["accuracy"])
    data: dict[str, list[Any]] = {"epoch": [], "accuracy (%)": [], "task": []}
    for step, row in enumerate(curves, start=1):
        for task, acc in enumerate(row["accuracy"]):
            data["epoch"].append(step)
            data["accuracy (%)"].append(100 * acc)
            data["task"].append(f"task {task}")
    # the first epoch of each experience, and where each experience's span ends
    starts = [s for s, row in enumerate(curves, start=1) if row["epoch"] == 0]
    ends = [*(s - 1 for s in starts[1:]), len(curves)]

    style, context = _style()
    with style, context:
        fig, ax = _figure(max(6.0, min(14.0, 0.25 * len(curves) + 4)), 4.0)
        sns.lineplot(data, x="epoch", y="accuracy (%)", hue="task", marker="o", markersize=4,
                     palette=sns.color_palette("tab10", n_tasks), ax=ax)
        for i, (start, end) in enumerate(zip(starts, ends)):
            if i > 0:
                ax.axvline(start - 0.5, color="0.35", linestyle="--", linewidth=1)
            exp = curves[start - 1]["experience"]
            ax.text((start + end) / 2, 101, f"training\nexperience {exp}", ha="center",
                    va="bottom", fontsize="small", color="0.3")
        ax.set_ylim(0, 100)
        ax.set_xlim(0.5, len(curves) + 0.5)
        ax.set_xlabel("epoch, over the whole stream (dashed: experience boundaries)")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(title="evaluated", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize="small")
        fig.suptitle(_title(results), fontsize="medium")
        return fig


def accuracy_heatmap(results: dict[str, Any]) -> Any:
    """The accuracy matrix R[i, j] in percent, one annotated cell per (experience, task)."""
    import numpy as np
    import seaborn as sns

    R = 100 * np.asarray(results["accuracy_matrix"], dtype=float)  # (experiences, tasks)
    rows, cols = R.shape
    style, context = _style()
    with style, context:
        fig, ax = _figure(max(4.5, 0.8 * cols + 3), max(3.5, 0.6 * rows + 2))
        sns.heatmap(R, ax=ax, annot=cols <= 12, fmt=".1f", vmin=0, vmax=100, cmap="viridis",
                    square=rows == cols, linewidths=0.5,
                    cbar_kws={"label": "test accuracy (%)"})
        ax.set_xlabel("evaluated task j")
        ax.set_ylabel("after training experience i")
        ax.set_xticklabels([str(j) for j in range(cols)])
        ax.set_yticklabels([str(i) for i in range(rows)], rotation=0)
        ax.set_title("accuracy matrix R[i, j]\n" + _title(results), fontsize="medium")
        return fig


def write_run_figures(results: dict[str, Any], folder: str | os.PathLike[str]) -> list[Path]:
    """Both run figures into ``folder`` (``forgetting_curves.*``, ``accuracy_matrix.*``)."""
    folder = Path(folder)
    return [*save_figure(forgetting_curves(results), folder / RUN_FIGURES[0]),
            *save_figure(accuracy_heatmap(results), folder / RUN_FIGURES[1])]


def sweep_summary(
    rows: Sequence[dict[str, Any]], *, x: str, y: str, hue: str | None = None
) -> list[dict[str, Any]]:
    """Per (hue, x): ``n``, ``mean`` and sample ``std`` (ddof = 1, seaborn's "sd") of ``y``."""
    import numpy as np

    groups: dict[tuple[Any, Any], list[float]] = {}
    for r in rows:
        groups.setdefault((r.get(hue) if hue else None, r[x]), []).append(float(r[y]))
    out = []
    for (h, xv), ys in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        std = float(np.std(ys, ddof=1)) if len(ys) > 1 else 0.0
        out.append({**({hue: h} if hue else {}), x: xv, "n": len(ys),
                    "mean": float(np.mean(ys)), "std": std})
    return out


def sweep_plot(
    rows: Sequence[dict[str, Any]],
    *,
    x: str,
    y: str = "average_accuracy",
    hue: str | None = None,
    title: str = "",
    xlabel: str | None = None,
) -> Any:
    """``y`` (a fraction, shown in %) vs ``x``: mean +- std over the rows of each (x, hue).

    :param rows: one dict per run with keys ``x``, ``y`` and ``hue`` (e.g. the seeds of a grid).
    :returns: the matplotlib ``Figure``.
    """
    import numpy as np
    import seaborn as sns

    label = f"{y.replace('_', ' ')} (%)"
    data = {x: [r[x] for r in rows], label: [100 * r[y] for r in rows]}
    if hue is not None:
        data[hue] = [str(r[hue]) for r in rows]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data[x])
    n = sorted({s["n"] for s in sweep_summary(rows, x=x, y=y, hue=hue)})
    n_text = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"

    style, context = _style()
    with style, context:
        fig, ax = _figure(6.5, 4.2)
        if numeric:
            # style=hue: each line its own marker and dash, so coinciding lines stay visible
            sns.lineplot(data, x=x, y=label, hue=hue, style=hue, errorbar="sd", markers=True,
                         markersize=8, err_style="bars", dashes=True, err_kws={"capsize": 4},
                         ax=ax)
            ax.set_xticks(sorted(set(data[x])))
        else:
            sns.pointplot(data, x=x, y=label, hue=hue, errorbar="sd", capsize=0.1, dodge=0.2,
                          ax=ax)
        values = np.asarray(data[label])
        ax.set_ylim(max(0.0, values.min() - 10), min(100.0, values.max() + 5))
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(f"final {label}")
        if hue is not None:
            ax.legend(title=hue, fontsize="small")
        ax.set_title((title + "\n" if title else "") + f"mean ± std over {n_text} seeds",
                     fontsize="medium")
        return fig
