"""``metabnn leaderboard regenerate``: every board's sweeps, then the build, in one command.

The sweeps run through :func:`metabnn.sweep.run_sweep` into one run folder and registry
(default ``runs/leaderboard``), so the command is resumable: a run done by this code (its
fingerprint) is skipped, a run done by other code reruns, an interrupted run continues from its
checkpoint. A planned run whose committed ``BOARD/results/<stamp>.json`` was made by this code
(same fingerprint, thread count included) is adopted into the registry instead of rerun, so a
fresh checkout runs only what the board lacks. Then the registry's done runs are checked and
copied into the board (:func:`~metabnn.leaderboard.build.add_runs`; a run that fits no board is
not added) and the board is rebuilt. ``--plan`` runs nothing: per sweep, how many runs are
planned, done by this code and left, and the CPU time the left ones should take, estimated from
the wall time of the board's recorded runs of the same sweep (``?`` when none is recorded yet).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["adopt_committed", "plan", "regenerate"]


def _sweeps(folder: Path) -> list[tuple[str, Path]]:
    import yaml

    from metabnn.config import ConfigError
    from metabnn.leaderboard.build import _specs

    spec = yaml.safe_load((folder / "board.yaml").read_text()) or {}
    specs = _specs(folder, spec)
    if specs is None:
        raise ConfigError(f"{folder / 'board.yaml'} has no boards: (an older board file): "
                          "list its boards and their sweeps to regenerate it")
    return [(s.id, path) for s in specs for path in s.sweeps]


def _estimate(run: Any, recorded: list[dict[str, Any]]) -> float | None:
    """Run time of a planned run, from the recorded runs most like it: the same config but the
    seed (median), else the same strategy and model on the board, else the board's median."""
    from metabnn.config import to_dict
    from metabnn.leaderboard.schema import group_key

    config = to_dict(run.config)
    for alike in (lambda r: group_key(r["config"]) == group_key(config),
                  lambda r: (r["config"]["strategy"], r["config"]["model"]["name"]) == (
                      config["strategy"], config["model"]["name"]),
                  lambda r: True):
        times = [r["wall_time_s"] for r in recorded if alike(r)]
        if times:
            return statistics.median(times)
    return None


def _committed(folder: Path, stamp: str, fingerprint_id: str) -> dict[str, Any] | None:
    """The committed results of ``stamp`` on the board when this code made them, else None."""
    import json

    try:
        results = json.loads((folder / "results" / f"{stamp}.json").read_text())
    except (OSError, ValueError):
        return None  # absent, or damaged: the build names a damaged file; here it is not adopted
    if not isinstance(results, dict) or results.get("stamp") != stamp or (
            results.get("fingerprint") or {}).get("id") != fingerprint_id:
        return None
    return results


def adopt_committed(folder: Path, runs: list[Any], db: Any, out: Path,
                    fingerprint_id: str, sweep: str | None = None) -> int:
    """Register the committed results file of every planned run the registry does not have as
    done by this code, when the file's own fingerprint is ``fingerprint_id``: copied byte for
    byte to ``out/<stamp>/results.json`` and marked done. Returns how many were adopted."""
    import shutil

    from metabnn.config import to_dict

    adopted = 0
    for run in runs:
        if db.is_current(run.stamp, fingerprint_id):
            continue
        results = _committed(folder, run.stamp, fingerprint_id)
        if results is None:
            continue
        committed = folder / "results" / f"{run.stamp}.json"
        target = out / run.stamp / "results.json"
        if target.exists() and target.read_bytes() != committed.read_bytes():
            continue  # another run's file there: the sweep reruns it, keeping that file aside
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(committed, target)
        db.start(run.stamp, to_dict(run.config), sweep=sweep)
        db.finish(run.stamp, {**results, "path": str(target)})
        adopted += 1
    return adopted


def plan(folder: str | Path, out: str | Path, device: str, workers: int
         ) -> list[dict[str, Any]]:
    """Per sweep: board, sweep name, planned, done by this code, left, and the estimated run
    time of the left runs in seconds (``None``: the board has no recorded run to estimate
    from; :func:`_estimate`)."""
    from metabnn.fingerprint import code_fingerprint
    from metabnn.leaderboard.build import load_board
    from metabnn.runner import resolve_device, validate
    from metabnn.runs import RunRegistry, default_registry_path
    from metabnn.sweep import _threads, classify, expand, load_sweep

    folder = Path(folder)
    board = load_board(folder)
    registry = default_registry_path(out)
    db = RunRegistry(registry) if Path(registry).exists() else None
    fp = code_fingerprint(resolve_device(device), threads=_threads(workers))["id"]
    rows = []
    for bid, path in _sweeps(folder):
        spec = load_sweep(path)
        runs = expand(spec, validate)
        state = classify(runs, db, device, threads=_threads(workers)) if db else {}
        left = [r for r in runs if state.get(r.stamp, "new") in ("new", "stale")
                and _committed(folder, r.stamp, fp) is None]
        recorded = [r for r in board.results if r["stamp"] in
                    {row_stamp for row in board.tables[bid].rows
                     for row_stamp in row.provenance.stamps}] if bid in board.tables else []
        each = [_estimate(r, recorded) for r in left]
        rows.append({"board": bid, "sweep": spec.name, "planned": len(runs),
                     "done": len(runs) - len(left), "left": len(left),
                     "estimate_s": None if left and None in each else sum(
                         e for e in each if e is not None)})
    return rows


def regenerate(folder: str | Path, out: str | Path, *, workers: int, data_root: str | None,
               device: str, log: Callable[[str], Any] = print) -> tuple[int, list[str]]:
    """Run every board's sweeps (skipping what this code has done; W&B off: the board is the
    record), add the done runs, rebuild. Returns (failed runs, refusals of runs that could not
    be added)."""
    from metabnn.fingerprint import code_fingerprint
    from metabnn.leaderboard.build import add_runs, build
    from metabnn.runner import resolve_device, validate
    from metabnn.runs import RunRegistry, default_registry_path
    from metabnn.sweep import _threads, expand, load_sweep, run_sweep

    folder = Path(folder)
    failed = 0
    for bid, path in _sweeps(folder):
        log(f"board {bid}: sweep {path}")
        spec = load_sweep(path)
        db = RunRegistry(default_registry_path(out))
        fp = code_fingerprint(resolve_device(device), threads=_threads(workers))["id"]
        adopted = adopt_committed(folder, expand(spec, validate), db, Path(out), fp,
                                  sweep=spec.name)
        if adopted:
            log(f"board {bid}: {adopted} planned runs adopted from {folder / 'results'} "
                f"(made by this code, fingerprint {fp}), not rerun")
        summary = run_sweep(spec, workers=workers, out_dir=out, data_root=data_root,
                            device=device, wandb="disabled",
                            wandb_reason="leaderboard regenerate: the board is the record",
                            log=log)
        log(f"sweep {spec.name}: {summary['runs']} runs: "
            f"{summary['ran']} ran ({summary['failed']} failed), {summary['skipped']} skipped "
            "as done by this code")
        failed += summary["failed"]

    added, refused = add_runs([], folder, default_registry_path(out), against=code_fingerprint())
    log(f"added {len(added)} results files to {folder / 'results'}")
    for path in build(folder):
        log(f"wrote {path}")
    return failed, refused
