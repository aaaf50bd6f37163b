"""``metabnn reproduce NAME``: run a recipe through the ordinary machinery, then report.

Kind ``runs``: the recipe's sweep goes through :func:`metabnn.sweep.run_sweep` (so every run is
an ordinary, registry-recorded ``metabnn run``, reused only when done by this code: same code
fingerprint, :mod:`metabnn.fingerprint`); kind ``ber``:
:func:`metabnn.hardware.sweep_ber.sweep_ber` once
per seed (a seed's ``sweep_ber.json`` made by this code is reused). Then the summary of
:func:`metabnn.reproduce.assemble.assemble` from the runs' own results files, the figure, the
tables and the comparison with the paper, in ``<out>/reproductions/<name>-<scale>/``:
``summary.json``, ``report.md``, ``rows.csv``, ``table.csv``, ``comparison.csv`` and
``figure.{png,svg}``. :func:`record` copies the runs' results files into
``docs/reproductions/<name>-<scale>/`` for the generated page (:mod:`metabnn.reproduce.docs`).
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from metabnn.config import ConfigError
from metabnn.reproduce.assemble import assemble, ber_config_of, render
from metabnn.reproduce.recipe import BerPlan, Recipe, load_recipe, resolve
from metabnn.reproduce.report import short_key

__all__ = ["reproduce", "record", "command_of", "run_count", "DEFAULT_SEEDS"]

DEFAULT_SEEDS = 3
"""Seeds a reproduction runs unless told otherwise (``--seeds``): a claim needs an interval."""


def command_of(name: str, scale: str, seeds: int | None = None) -> str:
    """The command line that reproduces ``name`` at ``scale``."""
    return f"metabnn reproduce {name} --scale {scale}" + (f" --seeds {seeds}" if seeds else "")


def _run_results(plan: Any, *, out: Path, data_root: str | None, device: str, workers: int,
                 force: bool, allow_stale: bool, batched_seeds: bool,
                 log: Callable[[str], Any]) -> tuple[list[dict[str, Any]], int]:
    """Run the sweep; the results of its done runs (stale ones marked) and how many ran."""
    from metabnn.runner import validate
    from metabnn.runs import RunRegistry, default_registry_path
    from metabnn.sweep import _threads, classify, expand, run_sweep

    summary = run_sweep(plan, workers=workers, out_dir=out, data_root=data_root, device=device,
                        force=force, allow_stale=allow_stale, batched_seeds=batched_seeds,
                        log=log)
    if summary["failed"]:
        log(f"{summary['failed']} run(s) failed: `metabnn runs --sweep {plan.name}` lists them;"
            " the report covers the runs that finished")
    db = RunRegistry(default_registry_path(out))
    runs = expand(plan, validate)
    state = classify(runs, db, device, threads=_threads(workers), allow_stale=True,
                     batched_seeds=batched_seeds)
    results = []
    for r in runs:
        entry = db.get(r.stamp)
        if entry is None or entry["status"] != "done" or not entry["results_path"]:
            continue
        body = json.loads(Path(entry["results_path"]).read_text())
        body["path"] = entry["results_path"]
        if state[r.stamp] == "stale-reused":
            body["stale"] = True  # in memory only: record() refuses it
        results.append(body)
    return results, summary["ran"]


def _ber_results(plan: BerPlan, *, folder: Path, data_root: str | None, force: bool,
                 allow_stale: bool, log: Callable[[str], Any]
                 ) -> tuple[list[dict[str, Any]], int]:
    """Each seed's ``sweep_ber.json``: reused when made by this code for the same config."""
    import dataclasses

    from metabnn.fingerprint import code_fingerprint, fingerprint_diff
    from metabnn.hardware.sweep_ber import sweep_ber

    current = code_fingerprint("cpu")
    results, ran = [], 0
    for seed in plan.seeds:
        path = folder / f"seed{seed}" / "sweep_ber.json"
        try:
            done = json.loads(path.read_text()) if path.exists() and not force else None
        except ValueError:
            done = None
        if isinstance(done, dict) and done.get("config") == ber_config_of(plan, seed):
            old = done.get("fingerprint")
            if isinstance(old, dict) and old.get("id") == current["id"]:
                log(f"seed {seed}: already done by this code, reused: {path}")
                results.append({**done, "path": str(path)})
                continue
            if allow_stale:
                log(f"seed {seed}: STALE result reused (--allow-stale): made by other code "
                    f"({fingerprint_diff(old, current)}): {path}")
                results.append({**done, "path": str(path), "stale": True})
                continue
        sweep_ber(dataclasses.replace(plan.config, seed=seed), data_root=data_root,
                  out=path.parent, log=log)
        ran += 1
        results.append({**json.loads(path.read_text()), "path": str(path)})
    return results, ran


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
    elif layout == "per_task":
        keys = rep.get("panels") or []
        fig = figures.per_task(
            [(", ".join(str(v) for v in key), seeds) for key, seeds in panels.items()], title)
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
              out: str | Path = "runs", data_root: str | None = None, device: str = "auto",
              workers: int | None = None, force: bool = False, allow_stale: bool = False,
              batched_seeds: bool | None = None, log: Callable[[str], Any] = print
              ) -> dict[str, Any]:
    """Run recipe ``name`` at ``scale`` with ``seeds`` seeds (default :data:`DEFAULT_SEEDS`)
    and write its report; returns the summary (with ``folder`` and the runs' ``files``).

    ``batched_seeds``: train a point's seeds as one batched model where the strategy allows
    (:mod:`metabnn.multiseed`); default: on a GPU only (on a CPU, separate runs side by side
    use the cores as well).
    """
    from metabnn.results import device_name, write_json_atomic
    from metabnn.runner import resolve_device
    from metabnn.threads import usable_cpus

    recipe = load_recipe(name)
    seeds = seeds or DEFAULT_SEEDS
    plan = resolve(recipe, scale, seeds=seeds)
    dev = resolve_device(device)
    if batched_seeds is None:
        batched_seeds = dev.type == "cuda"
    out = Path(out)
    folder = out / "reproductions" / f"{recipe.name}-{scale}"
    folder.mkdir(parents=True, exist_ok=True)
    log(f"reproduce {recipe.name} ({scale}, seeds {', '.join(map(str, plan.seeds))}): "
        f"{recipe.title}")
    log(f"protocol: {recipe.protocol_of(scale)}")
    start = time.perf_counter()
    if isinstance(plan, BerPlan):
        workers = 1
        results, ran = _ber_results(plan, folder=folder, data_root=data_root, force=force,
                                    allow_stale=allow_stale, log=log)
        planned = len(plan.seeds)
    else:
        planned = run_count(plan)
        workers = workers or max(1, min(usable_cpus(), planned))
        results, ran = _run_results(plan, out=out, data_root=data_root, device=str(dev),
                                    workers=workers, force=force, allow_stale=allow_stale,
                                    batched_seeds=batched_seeds, log=log)
    elapsed = time.perf_counter() - start
    call = {"command": command_of(recipe.name, scale, seeds), "seeds": list(plan.seeds),
            "workers": workers, "device": device_name(dev),
            # the elapsed time means something only when this call ran every run
            "elapsed_s": round(elapsed, 1) if ran == planned else None,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if ran < planned:
        log(f"{planned - ran} of {planned} runs were reused: the elapsed time is not reported; "
            "the run time is the runs' own, summed")
    summary = assemble(recipe, scale, plan, results, call)
    panels = summary.pop("panels")
    figure = _figure(recipe, scale, summary["rows"], panels, folder)
    summary["figure"] = Path(figure).name if figure else None
    summary["files"] = [r["path"] for r in results]
    summary["stale"] = [r.get("stamp") or r["path"] for r in results if r.get("stale")]
    write_json_atomic(folder / "summary.json", summary)
    _write_csv(folder / "rows.csv", summary["rows"])
    _write_csv(folder / "table.csv", summary["table"])
    _write_csv(folder / "comparison.csv", summary["comparison"])
    report = render(summary)
    if summary["stale"]:
        report = (f"**⚠ STALE:** {len(summary['stale'])} run(s) were made by other code and "
                  "reused under --allow-stale; `--record` refuses them.\n\n" + report)
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


def record(folder: str | Path, docs: str | Path = "docs") -> Path:
    """Copy a reproduction's runs' results files (byte for byte), its call and its figure into
    ``docs/reproductions/<name>-<scale>/``; the page is rebuilt from them.

    Refused (:class:`~metabnn.config.ConfigError`, nothing written) when a planned run is
    missing, a run is stale, the runs were made by more than one code fingerprint, or a run's
    commit is ``-dirty`` (its code is not in any commit: commit, then rerun).
    """
    folder = Path(folder)
    summary = json.loads((folder / "summary.json").read_text())
    prov = summary["provenance"]
    why = []
    if summary["missing"]:
        why.append(f"{len(summary['missing'])} planned run(s) missing")
    if summary.get("stale"):
        why.append(f"{len(summary['stale'])} stale run(s) (made by other code)")
    if len(prov["fingerprints"]) > 1:
        why.append(f"runs made by {len(prov['fingerprints'])} code fingerprints "
                   f"({', '.join(prov['fingerprints'])})")
    dirty = [c for c in prov["commits"] if not c or c.endswith("-dirty") or c == "None"]
    if dirty:
        why.append("runs made from uncommitted code (commit -dirty or unknown): commit, then "
                   "rerun")
    if why:
        raise ConfigError(f"cannot record {folder}: " + "; ".join(why))
    target = Path(docs) / "reproductions" / f"{summary['recipe']}-{summary['scale']}"
    staging = target.with_name(target.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "runs").mkdir(parents=True)
    for path in summary["files"]:
        body = json.loads(Path(path).read_text())
        stem = body.get("stamp") or f"seed{body['config']['seed']}"
        shutil.copyfile(path, staging / "runs" / f"{stem}.json")
    (staging / "call.json").write_text(json.dumps(summary["call"], indent=2, sort_keys=True)
                                       + "\n")
    if summary.get("figure"):
        shutil.copy2(folder / summary["figure"], staging / summary["figure"])
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
