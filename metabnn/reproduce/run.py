"""``metabnn reproduce NAME``: run a recipe through the ordinary machinery, then report.

Kind ``runs``: the recipe's sweep goes through :func:`metabnn.sweep.run_sweep` (so every run is
an ordinary, registry-recorded ``metabnn run``, skipped when already done); kind ``ber``:
:func:`hardware.sweep_ber.sweep_ber` once per seed. Then the rows (:mod:`.report`), the figure
(:mod:`.figures`), the table, the comparison with the paper, all in
``<out>/reproductions/<name>-<scale>/``: ``summary.json``, ``report.md``, ``table.csv``,
``comparison.csv`` and ``figure.{png,svg}``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metabnn.reproduce.recipe import BerPlan, Recipe, load_recipe, resolve
from metabnn.reproduce.report import (
    compare,
    comparison_markdown,
    markdown,
    metric_value,
    short_key,
    summary_table,
)

__all__ = ["reproduce", "record", "command_of", "run_count"]


def command_of(name: str, scale: str, seeds: int | None = None) -> str:
    """The command line that reproduces ``name`` at ``scale``."""
    return f"metabnn reproduce {name} --scale {scale}" + (f" --seeds {seeds}" if seeds else "")


def _metrics_wanted(recipe: Recipe) -> list[str]:
    report = recipe.report
    names = [*report.get("metrics", []), report.get("y", "average_accuracy"),
             *(c["metric"] for c in recipe.expected)]
    return list(dict.fromkeys(names))


def _run_rows(recipe: Recipe, spec: Any, *, out: Path, data_root: str | None, device: str,
              workers: int, force: bool, log: Callable[[str], Any]
              ) -> tuple[list[dict[str, Any]], dict[tuple[Any, ...], list[dict[str, Any]]], int]:
    from metabnn.runner import validate
    from metabnn.runs import RunRegistry, default_registry_path
    from metabnn.sweep import expand, run_sweep

    summary = run_sweep(spec, workers=workers, out_dir=out, data_root=data_root, device=device,
                        force=force, log=log)
    if summary["failed"]:
        log(f"{summary['failed']} run(s) failed: `metabnn runs --sweep {spec.name}` lists them;"
            " the report covers the runs that finished")
    db = RunRegistry(default_registry_path(out))
    metrics = _metrics_wanted(recipe)
    panels_keys = recipe.report.get("panels") or [k for k, _ in spec.grid]
    rows, panels = [], {}
    for r in expand(spec, validate):
        entry = db.get(r.stamp)
        if entry is None or entry["status"] != "done" or not entry["results_path"]:
            continue
        with open(entry["results_path"]) as fh:
            results = json.load(fh)
        row = {**r.point, "stamp": r.stamp, "wall_time_s": results.get("wall_time_s")}
        if "model.hidden" in r.point:  # the x axis of width sweeps (Fig. 3)
            row["width"] = r.point["model.hidden"][0]
        row.update({m: metric_value(results, m) for m in metrics})
        rows.append(row)
        panels.setdefault(tuple(str(r.point.get(k)) for k in panels_keys), []).append(results)
    return rows, panels, summary["ran"]


def _ber_rows(plan: BerPlan, *, folder: Path, data_root: str | None,
              log: Callable[[str], Any]) -> list[dict[str, Any]]:
    import dataclasses

    from hardware.sweep_ber import sweep_ber

    cell = None
    if plan.cell != "ideal":
        from hardware.registry import HARDWARE

        cell = HARDWARE.get(plan.cell)()
    rows = []
    for seed in plan.seeds:
        config = dataclasses.replace(plan.config, seed=seed)
        sweep_ber(config, data_root=data_root, out=folder / f"seed{seed}", log=log)
        with open(folder / f"seed{seed}" / "sweep_ber.csv") as fh:
            raw = list(csv.DictReader(fh))
        for training in dict.fromkeys(r["training"] for r in raw):
            for ber in config.bers:
                accs = [float(r["accuracy"]) for r in raw
                        if r["training"] == training and float(r["ber"]) == ber]
                row = {"training": training, "ber": ber, "seed": seed,
                       "accuracy": sum(accs) / len(accs)}
                if cell is not None:
                    row["e_write_pj"] = cell.energy_at_ber(ber) if ber > 0 else None
                rows.append(row)
    return rows


def _figure(recipe: Recipe, scale: str, rows: list[dict[str, Any]],
            panels: dict[tuple[Any, ...], list[dict[str, Any]]], folder: Path) -> str | None:
    from metabnn.figures import save_figure
    from metabnn.reproduce import figures

    rep = recipe.report
    layout = rep.get("figure", "lines")
    title = f"{recipe.title}\n[{scale} scale] {recipe.paper}"
    if not rows:
        return None
    if layout == "task_curves":
        keys = rep.get("panels") or []
        fig = figures.task_curves(
            [(", ".join(f"{short_key(k)}={v}" for k, v in zip(keys, key)), seeds)
             for key, seeds in panels.items()], title)
    elif layout == "bars":
        fig = figures.bars(rows, x=rep["x"], y=rep.get("y", "average_accuracy"),
                           hue=rep.get("hue"), title=title, xlabel=rep.get("xlabel"))
    else:
        fig = figures.lines(rows, x=rep["x"], y=rep.get("y", "average_accuracy"),
                            hue=rep.get("hue"), title=title, xlabel=rep.get("xlabel"),
                            xscale=rep.get("xscale"))
    return str(save_figure(fig, folder / "figure")[0])


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                          for k, v in r.items()} for r in rows)


def reproduce(name: str, *, scale: str = "quick", seeds: int | None = None,
              out: str | Path = "runs", data_root: str | None = None, device: str = "cpu",
              workers: int | None = None, force: bool = False,
              log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run recipe ``name`` at ``scale`` and write its report; returns the summary."""
    from metabnn.results import provenance, write_json_atomic

    recipe = load_recipe(name)
    plan = resolve(recipe, scale, seeds=seeds)
    out = Path(out)
    folder = out / "reproductions" / f"{recipe.name}-{scale}"
    folder.mkdir(parents=True, exist_ok=True)
    log(f"reproduce {recipe.name} ({scale}): {recipe.title}")
    log(f"protocol: {recipe.protocol_of(scale)}")
    start = time.perf_counter()
    panels: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    ran = None
    if isinstance(plan, BerPlan):
        rows = _ber_rows(plan, folder=folder, data_root=data_root, log=log)
        n_runs = 2 * len(plan.seeds)
    else:
        workers = workers or max(1, min(os.cpu_count() or 1, run_count(plan)))
        rows, panels, ran = _run_rows(recipe, plan, out=out, data_root=data_root,
                                      device=device, workers=workers, force=force, log=log)
        n_runs = run_count(plan)
    wall = time.perf_counter() - start
    previous = folder / "summary.json"
    if ran == 0 and previous.exists():  # every run was done: the report is regenerated, and
        before = json.loads(previous.read_text())  # the time is that of the call that ran them
        if before.get("runs") == n_runs:
            wall = before["wall_time_s"]
            log(f"all {n_runs} runs were done: report regenerated; wall time of the call that "
                f"ran them: {wall / 60:.1f} min")
    figure = _figure(recipe, scale, rows, panels, folder)
    keys = recipe.report.get("rows") or ([k for k, _ in plan.grid] if not isinstance(
        plan, BerPlan) else ["training", "ber"])
    metrics = recipe.report.get("metrics") or [recipe.report.get("y", "average_accuracy")]
    table = summary_table(rows, keys, metrics)
    comparison = compare(recipe.expected, rows, scale)
    summary = {
        "recipe": recipe.name, "title": recipe.title, "paper": recipe.paper, "scale": scale,
        "protocol": recipe.protocol_of(scale), "command": command_of(recipe.name, scale, seeds),
        "runs": n_runs, "rows": len(rows), "wall_time_s": round(wall, 1),
        "table": table, "table_columns": [*keys, *metrics, "n"], "comparison": comparison,
        "figure": Path(figure).name if figure else None, **provenance(device),
    }
    write_json_atomic(folder / "summary.json", summary)
    _write_csv(folder / "rows.csv", rows)
    _write_csv(folder / "table.csv", table)
    _write_csv(folder / "comparison.csv", comparison)
    report = render(summary)
    (folder / "report.md").write_text(report)
    log(report)
    log(f"wrote {folder}/: summary.json, report.md, table.csv, comparison.csv, rows.csv"
        + (", figure.png/.svg" if figure else ""))
    return {**summary, "folder": str(folder)}


def run_count(spec: Any) -> int:
    """Runs of a sweep: the grid's product times the seeds."""
    n = len(spec.seeds)
    for _, values in spec.grid:
        n *= len(values)
    return n


def render(summary: dict[str, Any], *, figure_prefix: str = "") -> str:
    """The report of one reproduction as markdown (also the docs' section body)."""
    verdicts = [e["verdict"] for e in summary["comparison"]]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))
    lines = [
        f"**Command:** `{summary['command']}`  ",
        f"**Protocol ({summary['scale']}):** {summary['protocol']}  ",
        f"**Ran:** {summary['runs']} runs in {summary['wall_time_s'] / 60:.1f} min on "
        f"{summary['device']} (metabnn {summary['versions']['metabnn']}, torch "
        f"{summary['versions']['torch']}, commit {str(summary.get('git_commit'))[:12]}, "
        f"{summary['date'][:10]})",
        "",
        markdown(summary["table"], summary["table_columns"]),
        f"Comparison with the paper ({counts or 'no claims'}):",
        "",
        comparison_markdown(summary["comparison"]),
    ]
    if summary.get("figure"):
        lines.append(f"![{summary['recipe']} ({summary['scale']})]"
                     f"({figure_prefix}{summary['figure']})\n")
    return "\n".join(lines)


def record(folder: str | Path, docs: str | Path = "docs") -> Path:
    """Copy a reproduction's summary and figure into ``docs/reproductions/<name>-<scale>/``."""
    folder = Path(folder)
    summary = json.loads((folder / "summary.json").read_text())
    target = Path(docs) / "reproductions" / f"{summary['recipe']}-{summary['scale']}"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(folder / "summary.json", target / "summary.json")
    if summary.get("figure"):
        shutil.copy2(folder / summary["figure"], target / summary["figure"])
    return target
