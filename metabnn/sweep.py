"""Sweeps: a grid of runs from one YAML file, run in a local process pool or on Ray.

A sweep file is a base run config, a grid over dotted config keys and a list of seeds::

    name: pmnist-small
    base: {stream: {name: pmnist, tasks: 2}, model: {hidden: [64]}}
    grid: {strategy: [meta, naive], optim.meta: [0.0, 1.35]}
    seeds: [0, 1]
    plot: {x: optim.meta, y: average_accuracy, hue: strategy, xlabel: m}   # optional

A grid key ``variant`` takes mappings that set several keys together, each with a ``name``
(e.g. a strategy with its own hyperparameters)::

    grid:
      variant:
        - {name: none, strategy: naive}
        - {name: ewc, strategy: ewc, params.ewc_lambda: 5.0e+6, params.fisher: predicted}

:func:`expand` makes the cartesian product of the grid (in file order) times the seeds: one
validated :class:`~metabnn.config.RunConfig` per point, identified by its stamp. Every run is
recorded in the run registry (:mod:`metabnn.runs`); a stamp already done is skipped unless
``force``, so rerunning a sweep runs only what is not done, and a failed run is recorded with its
error while the sweep goes on.

Backends:

* ``local`` — a process pool of ``workers`` spawned processes, each with ``cpus // workers``
  torch threads; each worker records its own runs (SQLite WAL, retried writes).
* ``ray`` — one Ray task (1 CPU) per run, on the cluster at ``ray_address`` or on a local Ray
  started for the sweep with ``workers`` CPUs. The driver alone writes the registry (the nodes may
  not share a file system with it, and SQLite must not live on a network file system); a node's
  results come back with the task and are written locally if its run folder is not visible.
  Cluster nodes need metabnn and the data root installed at the same paths.
* ``slurm`` — one SLURM job array through submitit (:mod:`metabnn.slurm`): each task writes its
  own results file to the shared ``out_dir``, the driver alone gathers them into the registry;
  rerunning the sweep gathers what finished and resubmits only what is neither done nor queued.

Afterwards :func:`sweep_figure` plots the metric against the swept parameter, mean +- std over
the seeds, one line per strategy (see :func:`metabnn.figures.sweep_plot`), with a CSV next to it.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metabnn.config import ConfigError, RunConfig, from_dict, stamp, to_dict
from metabnn.runs import RunBusyError, RunRegistry
from metabnn.threads import usable_cpus

__all__ = ["SweepSpec", "SweepRun", "load_sweep", "parse_sweep", "set_dotted", "expand",
           "run_sweep", "sweep_figure", "BACKENDS", "usable_cpus", "classify", "flat_config",
           "planned_values", "matches", "matches_flat"]

BACKENDS = ("local", "ray", "slurm")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file (:func:`load_sweep`)."""

    name: str = field(metadata={"help": "sweep name: W&B group, registry column, figure folder"})
    base: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "the (partial) run config every run starts from"})
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = field(
        default=(), metadata={"help": "(dotted config key, values) pairs, crossed in this order"})
    seeds: tuple[int, ...] = field(default=(0,), metadata={"help": "seeds of every grid point"})
    plot: dict[str, str] = field(default_factory=dict,
                                 metadata={"help": "x, y (a metric), hue and xlabel of the "
                                                   "sweep figure"})


@dataclass(frozen=True)
class SweepRun:
    """One expanded run: its config, stamp and grid point (``{key: value, "seed": s}``; a
    variant appears by its name) and the dotted values the sweep file sets for it (``sets``)."""

    config: RunConfig
    stamp: str
    point: dict[str, Any]
    sets: dict[str, Any] = field(default_factory=dict)


def load_sweep(path: str | os.PathLike[str]) -> SweepSpec:
    """Read a sweep YAML (or JSON) file; unknown top-level keys are errors."""
    import yaml

    from metabnn.files import read_text

    text = read_text(path, "sweep file")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"sweep file {path} is invalid YAML: "
                          f"{getattr(err, 'problem', None) or type(err).__name__}{at}") from None
    return parse_sweep(data, f"sweep file {path}", default_name=Path(path).stem)


def parse_sweep(data: Any, where: str, *, default_name: str = "sweep") -> SweepSpec:
    """Check a sweep file's content (a parsed mapping) against the schema; ``where`` names it in
    errors (a path, or a recipe's sweep section)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    unknown = set(data) - {"name", "base", "grid", "seeds", "plot"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; "
                          "expected name, base, grid, seeds, plot")
    grid = data.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError(f"{where}: grid must map dotted keys to non-empty lists")
    for v in grid.get("variant", []):
        if not isinstance(v, dict) or not isinstance(v.get("name"), str) or len(v) < 2:
            raise ConfigError(f"{where}: grid.variant takes mappings with a name and the "
                              f"dotted keys they set, got {v!r}")
    seeds = data.get("seeds", [0])
    plot = data.get("plot") or {}
    if not isinstance(plot, dict) or set(plot) - {"x", "y", "hue", "xlabel"}:
        raise ConfigError(f"{where}: plot takes x, y, hue and xlabel")
    if not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds):
        raise ConfigError(f"{where}: seeds must be a list of integers")
    return SweepSpec(name=str(data.get("name") or default_name), base=data.get("base") or {},
                     grid=tuple((k, tuple(v)) for k, v in grid.items()), seeds=tuple(seeds),
                     plot=dict(plot))


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """``data["a"]["b"] = value`` for ``dotted = "a.b"``, creating the sections on the way."""
    *parents, leaf = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[leaf] = value


def expand(spec: SweepSpec, validate: Callable[[RunConfig], RunConfig] | None = None
           ) -> list[SweepRun]:
    """Grid x seeds -> runs (file order, seeds innermost); duplicates of a stamp dropped.

    ``validate`` (e.g. :func:`metabnn.runner.validate`) checks every config before any run
    starts, so a typo fails the sweep at once rather than after hours.
    """
    keys = [k for k, _ in spec.grid]
    base = flat_config(spec.base)
    runs: dict[str, SweepRun] = {}
    for values in itertools.product(*(v for _, v in spec.grid)):
        for seed in spec.seeds:
            data = json.loads(json.dumps(spec.base))  # deep copy
            point, sets = {}, dict(base)
            for key, value in zip(keys, values):
                if key == "variant":
                    point[key] = value["name"]
                    sets.update({k: v for k, v in value.items() if k != "name"})
                else:
                    point[key] = value
                    sets[key] = value
            for key, value in sets.items():
                set_dotted(data, key, value)
            data["seed"] = seed
            sets["seed"] = seed
            try:
                config = from_dict(RunConfig, data).validate()
                config = validate(config) if validate is not None else config
            except ConfigError as err:
                raise ConfigError(f"sweep point {point} seed {seed}: {err}") from None
            s = stamp(config)
            runs.setdefault(s, SweepRun(config, s, {**point, "seed": seed}, sets))
    return list(runs.values())


def flat_config(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A (partial) config as dotted keys: ``{"model.hidden": [512, 512],
    "params.ewc_lambda": 5000.0, ...}``."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        out.update(flat_config(v, f"{prefix}{k}.") if isinstance(v, dict) and v
                   else {f"{prefix}{k}": v})
    return out


def planned_values(spec: SweepSpec, run: SweepRun) -> dict[str, Any]:
    """What the sweep file itself sets for ``run`` (base, grid point or variant, seed), as
    dotted keys.

    A recorded result *is* that planned run when its config has these values: what the file
    leaves to defaults is not compared, so the match does not depend on the defaults of the
    code that reads the record (the code that made it is its fingerprint's business)."""
    return run.sets or {**flat_config(spec.base), **run.point}


def matches(values: dict[str, Any], config: dict[str, Any]) -> bool:
    """Whether a results file's ``config`` has every dotted value of ``values``."""
    return matches_flat(values, flat_config(config))


def matches_flat(values: dict[str, Any], flat: dict[str, Any]) -> bool:
    """:func:`matches` on a config already flattened by :func:`flat_config` (for callers that
    compare one config against many sets of values)."""
    return all(k in flat and _same(flat[k], v) for k, v in values.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _label(run: SweepRun) -> str:
    return " ".join(f"{k}={v}" for k, v in run.point.items())


def _threads(workers: int) -> int:
    """Torch threads of each of ``workers`` runs side by side: the usable CPUs shared out."""
    return max(1, usable_cpus() // max(workers, 1))


def _local_task(config: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
    """One run in a pool worker; it records itself in the registry. Never raises."""
    import torch

    from metabnn.runner import run

    torch.set_num_threads(opts.pop("threads"))
    cfg = from_dict(RunConfig, config)
    folder = Path(opts["out_dir"]) / stamp(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "log.txt", "a") as fh:
        try:
            results = run(cfg, progress=False, log=lambda s: print(s, file=fh, flush=True),
                          **opts)
        except RunBusyError as err:  # another invocation of the sweep runs it: not twice
            return {"status": "skipped", "busy": str(err)}
        except BaseException as err:  # recorded as failed by run(); the sweep goes on
            return {"status": "failed", "error": f"{type(err).__name__}: {err}"}
    return {"status": "skipped" if results.get("skipped") else "done",
            "metrics": results["metrics"], "wall_time_s": results.get("wall_time_s")}


def _ray_task(config: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
    """One run as a Ray task: not recorded here (the driver records); raises on failure."""
    import torch

    from metabnn.runner import run

    torch.set_num_threads(opts.pop("threads"))
    return run(from_dict(RunConfig, config), progress=False, log=lambda s: None, record=False,
               **opts)


def _local_batch(configs: list[dict[str, Any]], opts: dict[str, Any]
                 ) -> list[dict[str, Any]]:
    """The seeds of one config as one batched model in a pool worker (:mod:`metabnn.multiseed`);
    one outcome per seed. Never raises."""
    import torch

    from metabnn.multiseed import run_batched

    torch.set_num_threads(opts.pop("threads"))
    cfgs = [from_dict(RunConfig, c) for c in configs]
    folder = Path(opts["out_dir"]) / stamp(cfgs[0])
    folder.mkdir(parents=True, exist_ok=True)
    opts = {k: v for k, v in opts.items() if k != "resume"}
    with open(folder / "log.txt", "a") as fh:
        try:
            results = run_batched(cfgs[0], [c.seed for c in cfgs],
                                  log=lambda s: print(s, file=fh, flush=True), **opts)
        except BaseException as err:  # recorded as failed by run_batched(); the sweep goes on
            return [{"status": "failed", "error": f"{type(err).__name__}: {err}"}] * len(cfgs)
    return [{"status": "skipped" if r.get("skipped") else "done", "metrics": r["metrics"],
             "wall_time_s": r.get("wall_time_s")} for r in results]


def _groups(todo: list[SweepRun], batched: bool) -> list[list[SweepRun]]:
    """Runs to dispatch together: with ``batched``, the seeds of one config that the batched
    trainer covers (:func:`metabnn.multiseed.check_batched`); otherwise one run each."""
    if not batched:
        return [[r] for r in todo]
    from metabnn.multiseed import check_batched

    groups: dict[str, list[SweepRun]] = {}
    for r in todo:
        body = to_dict(r.config)
        body.pop("seed")
        try:
            check_batched(r.config)
            key = json.dumps(body, sort_keys=True)
        except ConfigError:
            key = r.stamp
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def _run_local(todo: list[SweepRun], opts: dict[str, Any], workers: int, db: RunRegistry,
               report: Callable[[SweepRun, dict[str, Any]], None], batched: bool = False,
               log: Callable[[str], Any] = print, task: Callable[..., Any] | None = None
               ) -> None:
    """Run ``todo`` in a pool of ``workers`` processes.

    A worker killed from outside (most often by the kernel's out-of-memory killer: ``workers``
    copies of a run did not fit in memory) breaks the whole pool, and every run it held or had
    queued with it. Those runs go again in a new pool with one worker fewer, each run keeping
    its thread count (part of its code fingerprint). A pool of one that breaks fails only the
    run it was running, with the cause named, and the rest go on. ``task`` replaces the
    per-run function (tests)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    opts = {**opts, "registry": str(db.path), "threads": _threads(workers)}
    ctx = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state
    left = _groups(todo, batched)
    while left:
        broken: list[list[SweepRun]] = []
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {}
            for group in left:
                if len(group) == 1:
                    futures[pool.submit(task or _local_task, to_dict(group[0].config),
                                        dict(opts))] = group
                else:
                    futures[pool.submit(task or _local_batch,
                                        [to_dict(r.config) for r in group], dict(opts))] = group
            for future in as_completed(futures):
                group = futures[future]
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    broken.append(group)
                    continue
                except BaseException as err:
                    outcome = {"status": "failed", "error": f"worker died: {type(err).__name__}: "
                                                             f"{err}"}
                    for r in group:
                        db.fail(r.stamp, outcome["error"])
                outcomes = outcome if isinstance(outcome, list) else [outcome] * len(group)
                for r, o in zip(group, outcomes):
                    report(r, o)
        left = _in_plan_order(broken, left)
        if left and workers > 1:
            workers -= 1
            log(f"a worker process was killed (out of memory? `dmesg` says): the "
                f"{sum(map(len, left))} run(s) it took down or had queued go again with "
                f"{workers} worker(s) at a time")
        elif left:  # one worker runs its queue in order: the first broken group was running
            killed, left = left[0], left[1:]
            error = ("worker died: killed from outside while it ran alone (out of memory? "
                     "`dmesg` says): this run does not fit in this machine's memory")
            for r in killed:
                db.fail(r.stamp, error)
                report(r, {"status": "failed", "error": error})


def _in_plan_order(broken: list[list[SweepRun]], submitted: list[list[SweepRun]]
                   ) -> list[list[SweepRun]]:
    """The ``broken`` groups in the order they were ``submitted`` (so runs go again in plan
    order, whatever order the broken futures came back in)."""
    ids = {id(g) for g in broken}
    return [g for g in submitted if id(g) in ids]


def _run_ray(todo: list[SweepRun], opts: dict[str, Any], workers: int, address: str | None,
             db: RunRegistry, report: Callable[[SweepRun, dict[str, Any]], None],
             rerun: set[str]) -> None:
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install -e '.[ray]'") from None
    from metabnn.figures import write_run_figures
    from metabnn.results import write_results

    started = not ray.is_initialized()
    if started:
        env = {k: os.environ[k] for k in ("WANDB_PROJECT", "WANDB_ENTITY", "WANDB_MODE",
                                          "METABNN_PLUGINS") if k in os.environ}
        ray.init(address=address, num_cpus=None if address else workers,
                 include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 runtime_env={"env_vars": env} if env else None)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        pending = {}
        for r in todo:  # running = dispatched; claimed, so two drivers never run it twice
            claimed, status = db.claim(r.stamp, to_dict(r.config), sweep=opts["sweep"],
                                       force=opts["force"] or r.stamp in rerun)
            if not claimed:
                report(r, {"status": "skipped", "busy": f"{status} elsewhere"})
                continue
            pending[task.remote(to_dict(r.config), {**opts, "threads": 1})] = r
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            r = pending.pop(ref)
            try:
                results = ray.get(ref)
            except Exception as err:
                cause = getattr(err, "cause", None) or err
                error = f"{type(cause).__name__}: {cause}"
                db.fail(r.stamp, f"{error}\n{err}")
                report(r, {"status": "failed", "error": error})
                continue
            path = Path(results["path"])
            body = {k: v for k, v in results.items() if k not in ("path", "skipped")}
            if not path.exists() or json.loads(path.read_text()).get("date") != body["date"]:
                write_results(path, body)  # the node's file system is not ours: write it here
                write_run_figures(body, path.parent)
            db.finish(r.stamp, results)
            report(r, {"status": "done", "metrics": results["metrics"],
                       "wall_time_s": results.get("wall_time_s")})
    finally:
        if started:
            ray.shutdown()


def run_sweep(
    spec: SweepSpec,
    *,
    backend: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    out_dir: str | Path = "runs",
    registry: str | Path | None = None,
    data_root: str | Path | None = None,
    device: str = "cpu",
    force: bool = False,
    wandb: str = "disabled",
    wandb_reason: str = "",
    log: Callable[[str], Any] = print,
    allow_stale: bool = False,
    batched_seeds: bool = False,
    slurm: Any = None,
) -> dict[str, Any]:
    """Run every point of ``spec`` not done yet by this code (all with ``force``); return a
    summary.

    A point done by code with another fingerprint (:mod:`metabnn.fingerprint`; the workers'
    thread count is part of it) reruns, its old results kept in ``superseded/``; with
    ``allow_stale`` it is reused and marked stale instead. ``batched_seeds`` (local backend):
    the seeds of a config the batched trainer covers train as one model
    (:func:`metabnn.multiseed.run_batched`), each still its own run. ``slurm``: the
    :class:`metabnn.slurm.SlurmOptions` of the slurm backend (its ``cpus`` are each run's threads).

    The summary has the counts (``runs``, ``ran``, ``skipped``, ``done``, ``failed``), the
    registry's counts for this sweep, and the figure and CSV paths.
    """
    from metabnn.data import resolve_data_root
    from metabnn.runner import validate
    from metabnn.runs import default_registry_path

    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r} is invalid: use one of {', '.join(BACKENDS)}")
    if workers < 1:
        raise ConfigError(f"--workers {workers} is invalid: must be >= 1")
    if batched_seeds and backend != "local":
        raise ConfigError("--batched-seeds runs on the local backend only")
    runs = expand(spec, validate)
    db = RunRegistry(registry if registry is not None else default_registry_path(out_dir))
    if backend == "slurm":
        from metabnn.slurm import SlurmOptions

        slurm = (slurm or SlurmOptions()).check()
    threads = {"ray": 1, "slurm": slurm.cpus if slurm else 1}.get(backend) or _threads(workers)
    state = classify(runs, db, device, threads=threads, force=force, allow_stale=allow_stale,
                     batched_seeds=batched_seeds)
    todo = [r for r in runs if state[r.stamp] in ("new", "stale")]
    rerun = {r.stamp for r in todo if state[r.stamp] == "stale"}
    stale_kept = sum(v == "stale-reused" for v in state.values())
    log(f"sweep {spec.name}: {len(runs)} runs, {len(runs) - len(todo)} already done by this "
        f"code" + (f" ({stale_kept} of them STALE, reused under --allow-stale)"
                   if stale_kept else "")
        + (f", {len(rerun)} done by other code to rerun" if rerun else "")
        + f", running {len(todo)} on {backend} "
        + (f"({workers} worker{'s' * (workers > 1)}, " if backend != "slurm" else "(")
        + f"{threads} thread{'s' * (threads > 1)} each); registry {db.path}")
    opts = {"data_root": str(resolve_data_root(data_root).resolve()), "device": device,
            "out_dir": str(Path(out_dir).resolve()), "force": force, "wandb": wandb,
            "wandb_reason": wandb_reason, "sweep": spec.name, "allow_stale": allow_stale}
    counts = {"runs": len(runs), "ran": 0, "skipped": len(runs) - len(todo), "done": 0,
              "failed": 0}

    def report(r: SweepRun, outcome: dict[str, Any]) -> None:
        status = outcome["status"]
        counts["skipped" if status == "skipped" else "ran"] += 1
        counts["failed" if status == "failed" else "done"] += status != "skipped"
        n = counts["ran"] + counts["skipped"] - (len(runs) - len(todo))
        if status == "failed":
            detail = outcome["error"].splitlines()[0]
        elif outcome.get("gathered"):
            detail = "gathered from its results file"
        elif "busy" in outcome:
            detail = outcome["busy"]
        else:
            m = outcome["metrics"]
            key = "average_accuracy" if "average_accuracy" in m else "final_accuracy"
            detail = (f"{key.replace('_', ' ')} {100 * m[key]:.2f}% "
                      f"({outcome.get('wall_time_s') or 0:.1f}s)")
        log(f"[{n}/{len(todo)}] {status:<7} {r.stamp} {_label(r)}: {detail}")

    try:
        if todo and backend == "local":
            _run_local(todo, opts, workers, db, report, batched=batched_seeds, log=log)
        elif todo and backend == "slurm":
            from metabnn.fingerprint import code_fingerprint
            from metabnn.runner import resolve_device
            from metabnn.slurm import run_slurm

            fp = code_fingerprint(resolve_device(device), threads=threads)["id"]
            by_stamp = {r.stamp: r for r in todo}
            run_slurm([(r.stamp, to_dict(r.config)) for r in todo], opts, slurm, db,
                      {r.stamp: fp for r in todo},
                      lambda s, outcome: report(by_stamp[s], outcome), rerun, log)
        elif todo:
            _run_ray(todo, {k: v for k, v in opts.items() if k != "allow_stale"}, workers,
                     ray_address, db, report, rerun)
    except KeyboardInterrupt:
        log("sweep interrupted: rerun it to run what is not done")
        raise
    stamps = {r.stamp for r in runs}
    status = [row["status"] for row in db.list() if row["stamp"] in stamps]
    counts["registry"] = {s: status.count(s) for s in ("done", "failed", "running")}
    counts.update(sweep_figure(spec, runs, db, Path(out_dir) / "sweeps" / spec.name))
    return counts


def classify(runs: list[SweepRun], db: RunRegistry, device: str, *, threads: int,
             force: bool = False, allow_stale: bool = False, batched_seeds: bool = False
             ) -> dict[str, str]:
    """Each stamp's state for code running on ``device`` with ``threads`` threads (and its
    seeds batched, with ``batched_seeds``): ``current`` (done by this code), ``stale`` (done by
    other code: to rerun), ``stale-reused`` (the same, under ``allow_stale``) or ``new`` (not
    done: to run; everything under ``force``)."""
    from metabnn.fingerprint import code_fingerprint
    from metabnn.runner import resolve_device

    dev = resolve_device(device)
    separate = code_fingerprint(dev, threads=threads)["id"]
    expected = {r.stamp: separate for r in runs}
    if batched_seeds:
        from metabnn.multiseed import batched_fingerprint

        for group in _groups(runs, True):
            if len(group) > 1:
                fp = batched_fingerprint(dev, "auto", len(group), threads=threads)["id"]
                expected.update({r.stamp: fp for r in group})
    state = {}
    for r in runs:
        if force or not db.is_done(r.stamp):
            state[r.stamp] = "new"
        elif db.is_current(r.stamp, expected[r.stamp]):
            state[r.stamp] = "current"
        else:
            state[r.stamp] = "stale-reused" if allow_stale else "stale"
    return state


def _x_and_hue(spec: SweepSpec) -> tuple[str | None, str | None]:
    keys = [k for k, _ in spec.grid]
    numeric = [k for k, v in spec.grid
               if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)]
    x = spec.plot.get("x") or (numeric[0] if numeric else (keys[0] if keys else None))
    others = [k for k in keys if k != x]
    hue = spec.plot.get("hue") or (others[0] if len(others) == 1 else None)
    if hue is None and others:
        hue = ", ".join(others)
    return x, hue


def sweep_figure(spec: SweepSpec, runs: list[SweepRun], db: RunRegistry, folder: Path
                 ) -> dict[str, Any]:
    """``folder/results.csv`` (one row per done run), ``folder/summary.csv`` (mean, std, n per
    point over seeds) and ``folder/sweep.{png,svg}``."""
    from metabnn.figures import save_figure, sweep_plot, sweep_summary

    y = spec.plot.get("y", "average_accuracy")
    x, hue = _x_and_hue(spec)
    rows = []
    for r in runs:
        row = db.get(r.stamp)
        if row is None or row["status"] != "done" or row["stamp"] != r.stamp:
            continue
        # list values (e.g. model.hidden) become labels: "512x512"
        values = {k: "x".join(map(str, v)) if isinstance(v, (list, tuple)) else v
                  for k, v in r.point.items()}
        if hue is not None and hue not in values:  # several other keys: one combined label
            values[hue] = " ".join(f"{k}={values[k]}" for k in hue.split(", "))
        rows.append({"stamp": r.stamp, "fingerprint": row.get("fingerprint"), **values, **{
            k: v for k, v in (row["metrics"] or {}).items() if isinstance(v, (int, float))}})
    if not rows:
        return {"figure": None, "csv": None}
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(folder / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    if x is None:
        return {"figure": None, "csv": str(folder / "results.csv")}
    summary = sweep_summary(rows, x=x, y=y, hue=hue)
    with open(folder / "summary.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    out = {"csv": str(folder / "results.csv"), "summary": summary}
    try:
        fig = sweep_plot(rows, x=x, y=y, hue=hue, title=spec.name, xlabel=spec.plot.get("xlabel"))
        paths = save_figure(fig, folder / "sweep")
    except Exception:  # a figure must not hide the runs' results; the CSVs hold them
        return {**out, "figure": None, "figure_error": traceback.format_exc(limit=1)}
    return {**out, "figure": str(paths[0])}
