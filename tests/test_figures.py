"""Figures: what they draw (checked on the matplotlib objects) and the files they write."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from metabnn.figures import (
    RUN_FIGURES,
    accuracy_heatmap,
    forgetting_curves,
    save_figure,
    sweep_plot,
    sweep_summary,
    write_run_figures,
)

# A hand-made 3-task stream, 2 epochs per experience: the shape runner.run writes.
R = [[0.90, 0.10, 0.12], [0.70, 0.92, 0.09], [0.55, 0.75, 0.95]]
CURVES = [
    {"experience": i, "epoch": e, "accuracy": [a - 0.05 * (1 - e) for a in R[i]]}
    for i in range(3) for e in range(2)
]
RESULTS = {"stamp": "0123456789ab", "accuracy_matrix": R, "curves": CURVES,
           "config": {"strategy": "meta", "seed": 0, "stream": {"name": "pmnist"},
                      "optim": {"meta": 1.35}}}


def test_forgetting_curves_draw_each_task_over_the_stream_with_boundaries():
    fig = forgetting_curves(RESULTS)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines()
             if line.get_linestyle() == "-" and len(line.get_xdata())]  # (not legend handles)
    assert len(lines) == 3  # one curve per evaluated task
    for task, line in enumerate(lines):
        x, y = line.get_data()
        assert list(x) == [1, 2, 3, 4, 5, 6]  # epochs over the whole stream
        assert list(y) == pytest.approx([100 * row["accuracy"][task] for row in CURVES])
    boundaries = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert boundaries == [2.5, 4.5]  # between experiences 0|1 and 1|2
    texts = {t.get_text() for t in ax.texts}
    assert {"training\nexperience 0", "training\nexperience 2"} <= texts
    assert ax.get_ylabel() == "test accuracy (%)" and "epoch" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["task 0", "task 1", "task 2"]


def test_heatmap_shows_the_matrix_in_percent():
    fig = accuracy_heatmap(RESULTS)
    ax = fig.axes[0]
    cells = [t.get_text() for t in ax.texts]
    assert cells == [f"{100 * a:.1f}" for row in R for a in row]  # row-major annotations
    mesh = ax.collections[0]
    assert np.asarray(mesh.get_array()).reshape(3, 3) == pytest.approx(100 * np.asarray(R))
    assert mesh.get_clim() == (0, 100)
    assert "evaluated task" in ax.get_xlabel() and "after training" in ax.get_ylabel()


def test_run_figures_are_png_and_svg_with_text(tmp_path):
    paths = write_run_figures(RESULTS, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"{stem}.{ext}" for stem in RUN_FIGURES for ext in ("png", "svg"))
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
        else:
            text = "".join(ET.parse(p).getroot().itertext())  # valid XML, text kept as text
            assert "0123456789ab" in text


ROWS = [  # two strategies x two values of m x three seeds
    {"strategy": s, "m": m, "seed": k, "average_accuracy": acc}
    for s, table in {"meta": {0.0: [0.60, 0.62, 0.64], 1.35: [0.80, 0.84, 0.82]},
                     "naive": {0.0: [0.60, 0.61, 0.65], 1.35: [0.60, 0.61, 0.65]}}.items()
    for m, accs in table.items() for k, acc in enumerate(accs)
]


def test_sweep_summary_is_mean_and_sample_std_over_seeds():
    summary = sweep_summary(ROWS, x="m", y="average_accuracy", hue="strategy")
    meta_135 = next(s for s in summary if s["strategy"] == "meta" and s["m"] == 1.35)
    assert meta_135["n"] == 3
    assert meta_135["mean"] == pytest.approx(0.82)
    assert meta_135["std"] == pytest.approx(0.02)  # sqrt(((.02)^2 + (.02)^2 + 0) / 2)
    assert len(summary) == 4


def test_sweep_plot_draws_mean_and_std_bars(tmp_path):
    fig = sweep_plot(ROWS, x="m", hue="strategy", title="demo")
    ax = fig.axes[0]
    # seaborn draws each strategy's means as a line and its +-sd as vertical segments
    means = [list(line.get_ydata()) for line in ax.get_lines()
             if list(line.get_xdata()) == [0.0, 1.35]]
    assert pytest.approx([100 * 0.62, 100 * 0.82]) in means
    bars = [seg for coll in ax.collections for seg in coll.get_segments()]
    spans = sorted((round(s[0][1], 6), round(s[1][1], 6)) for s in bars)
    assert (pytest.approx(80.0), pytest.approx(84.0)) in [(a, b) for a, b in spans]
    assert "mean ± std over 3 seeds" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["meta", "naive"]
    paths = save_figure(fig, tmp_path / "sweep")
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(p.exists() for p in paths)
