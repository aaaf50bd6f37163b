"""A reproduction's figure, in the layout of the paper's.

* ``task_curves`` — one panel per configuration (e.g. per m, Laborieux et al. 2021 Fig. 2a-d):
  the test accuracy of every task after every epoch of the whole stream, mean over seeds.
* ``lines`` — a metric against a numeric parameter, one line per group, mean +- std over seeds
  (Fig. 3's accuracy vs width, accuracy vs BER, accuracy vs bit-stream length); delegates to
  :func:`metabnn.figures.sweep_plot`, optionally on a symlog x axis.
* ``bars`` — a metric per configuration, one bar per group (Table 1, Fig. 4a, binary vs ternary).
* ``per_task`` — long streams: per task index, its accuracy right after it was learned
  (:math:`R_{jj}`, plasticity) and at the end of the stream (:math:`R_{T-1,j}`, memory), one line
  per configuration, mean with a band of +- sd over seeds (the MESU and BiMU papers' figures).

Built like :mod:`metabnn.figures`: matplotlib's object API in seaborn's style contexts, no
global state touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metabnn.figures import _figure, _style, sweep_plot

__all__ = ["task_curves", "lines", "bars", "per_task", "LAYOUTS"]

LAYOUTS = ("task_curves", "lines", "bars", "per_task")


def task_curves(panels: Sequence[tuple[str, Sequence[dict[str, Any]]]], title: str) -> Any:
    """``panels``: (title, the results of each seed) pairs; one subplot each."""
    import numpy as np
    import seaborn as sns
    from matplotlib.figure import Figure

    n = len(panels)
    cols = min(4, n)
    rows = -(-n // cols)
    style, context = _style()
    with style, context:
        fig = Figure(figsize=(3.6 * cols + 1.2, 3.0 * rows + 0.6), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
        for ax, (label, seeds) in zip(axes.flat, panels):
            acc = np.mean([[row["accuracy"] for row in r["curves"]] for r in seeds], axis=0)
            epochs = np.arange(1, acc.shape[0] + 1)  # (epochs over the stream, tasks)
            palette = sns.color_palette("tab10", acc.shape[1])
            for task in range(acc.shape[1]):
                ax.plot(epochs, 100 * acc[:, task], color=palette[task], linewidth=1.4,
                        label=f"task {task + 1}")
            starts = [i + 1 for i, row in enumerate(seeds[0]["curves"]) if row["epoch"] == 0]
            for start in starts[1:]:
                ax.axvline(start - 0.5, color="0.6", linestyle=":", linewidth=0.8)
            ax.set_title(f"{label} (n={len(seeds)})", fontsize="medium")
            ax.set_ylim(0, 100)
            ax.set_xlabel("epoch")
        for ax in axes[:, 0]:
            ax.set_ylabel("test accuracy (%)")
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        axes.flat[n - 1].legend(fontsize="small", loc="lower left")
        fig.suptitle(title, fontsize="medium")
        return fig


def lines(rows: Sequence[dict[str, Any]], *, x: str, y: str, hue: str | None, title: str,
          xlabel: str | None = None, xscale: str | None = None) -> Any:
    """``y`` vs numeric ``x``, mean +- std over seeds; ``xscale="symlog"`` for BER axes,
    ``"log"`` for sizes."""
    fig = sweep_plot(rows, x=x, y=y, hue=hue, title=title, xlabel=xlabel)
    if xscale == "log":
        fig.axes[0].set_xscale("log")
    if xscale == "symlog":
        ax = fig.axes[0]
        positive = sorted({r[x] for r in rows if r[x] > 0})
        ax.set_xscale("symlog", linthresh=positive[0] if positive else 1.0)
        ax.set_xlim(-0.1 * (positive[0] if positive else 1), 1.5 * max(r[x] for r in rows))
    return fig


def bars(rows: Sequence[dict[str, Any]], *, x: str, y: str, hue: str | None, title: str,
         xlabel: str | None = None) -> Any:
    """``y`` per category of ``x`` (one bar per ``hue``), mean with a std error bar."""
    import seaborn as sns

    label = f"{y.replace('_', ' ')} (%)"
    data = {x: [str(r[x]) for r in rows], label: [100 * r[y] for r in rows]}
    if hue is not None:
        data[hue] = [str(r[hue]) for r in rows]
    style, context = _style()
    with style, context:
        fig, ax = _figure(6.5, 4.2)
        sns.barplot(data, x=x, y=label, hue=hue, errorbar="sd", capsize=0.1, ax=ax)
        for container in ax.containers:
            ax.bar_label(container, fmt="%.1f", fontsize="x-small", padding=2)
        ax.set_ylim(0, 105)
        ax.set_xlabel(xlabel or x)
        if hue is not None:
            ax.legend(title=hue, fontsize="small", loc="lower right")
        ax.set_title(title, fontsize="medium")
        return fig


def per_task(panels: Sequence[tuple[str, Sequence[dict[str, Any]]]], title: str) -> Any:
    """``panels``: (label, the results of each seed) pairs; one line each in both subplots."""
    import numpy as np
    import seaborn as sns
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    style, context = _style()
    with style, context:
        fig = Figure(figsize=(11.0, 4.2), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        palette = sns.color_palette("tab10", len(panels))
        for color, (label, seeds) in zip(palette, panels):
            R = np.asarray([r["accuracy_matrix"] for r in seeds], dtype=float)  # (n, T, T)
            tasks = np.arange(1, R.shape[-1] + 1)
            learned = 100 * np.diagonal(R, axis1=1, axis2=2)  # (n, T)
            final = 100 * R[:, -1, :]
            for ax, values in zip(axes, (learned, final)):
                mean, sd = values.mean(0), values.std(0, ddof=1) if len(values) > 1 else 0
                ax.plot(tasks, mean, color=color, linewidth=1.5, label=f"{label} (n={len(R)})")
                ax.fill_between(tasks, mean - sd, mean + sd, color=color, alpha=0.15,
                                linewidth=0)
        axes[0].set_title("right after learning it (learning accuracy)", fontsize="medium")
        axes[1].set_title("at the end of the stream (final accuracy)", fontsize="medium")
        for ax in axes:
            ax.set_xlabel("task index")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # tasks are counted
            ax.set_ylim(0, 100)
        axes[0].set_ylabel("test accuracy (%)")
        axes[1].legend(fontsize="x-small", loc="lower left")
        fig.suptitle(title, fontsize="medium")
        return fig
