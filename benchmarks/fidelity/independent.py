"""Side by side, seed by seed: the authors' training and metabnn's on one protocol.

Each run is its own process on the same number of threads (``--workers`` of them at a time,
the two sides of a seed next to each other; finished runs kept in a :class:`RunCache`): the authors'
``main.py`` (scratch copy, :mod:`.authors`) with its own seeding (``--seed``: the torch and numpy
global generators draw the permutations, the initial weights and the minibatch order), and
``metabnn run`` with the same protocol and seed (metabnn's derived generators). The two codes
never share a random draw, so each side's final accuracies are samples of its own distribution;
:func:`compare` tests, per task, whether the two distributions' means differ (Welch's t, 95 %).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy import stats as scipy_stats

from metabnn.stats import describe, welch_interval

__all__ = ["Protocol", "run_authors", "run_ours", "compare", "RunCache", "run_jobs"]


@dataclass(frozen=True)
class Protocol:
    """One side-by-side protocol (permuted MNIST, task-incremental, batch 100)."""

    tasks: int = 3
    hidden: tuple[int, ...] = (512, 512)
    epochs: int = 3
    meta: float = 1.35
    bn_init: str = "ones"
    lr: float = 0.005
    weight_decay: float = 1e-7

    def label(self) -> str:
        return (f"pMNIST {self.tasks} tasks, 784-{'-'.join(map(str, self.hidden))}-10, "
                f"{self.epochs} epochs per task, m = {self.meta:g}, BatchNorm weights "
                f"{'~ U(0, 1)' if self.bn_init == 'uniform' else '= 1'}")


def _env(threads: int, **extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "WANDB_MODE": "disabled", **extra}


def run_authors(folder: Path, p: Protocol, seed: int, *, threads: int) -> dict[str, Any]:
    """The authors' ``main.py`` for ``p`` and ``seed``: final accuracy matrix and wall time.

    Each run works in its own copy of the scratch folder: ``main.py`` names its results folder
    by the start time to the second, so two runs started in the same second (``--workers``)
    would write, and read, the same file."""
    import shutil
    import tempfile

    argv = [sys.executable, "main.py", "--net", "bnn", "--hidden-layers",
            *map(str, p.hidden), "--lr", str(p.lr), "--decay", str(p.weight_decay), "--meta",
            str(p.meta), "--epochs-per-task", str(p.epochs), "--task-sequence",
            *(["pMNIST"] * p.tasks), "--seed", str(seed)]
    with tempfile.TemporaryDirectory(prefix="metabnn-authors-run-") as tmp:
        here = Path(tmp) / "code"
        shutil.copytree(folder, here, symlinks=True,
                        ignore=shutil.ignore_patterns("results", "__pycache__"))
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=here, env=_env(threads, FIDELITY_BN_INIT=p.bn_init),
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"the authors' main.py failed (seed {seed}): "
                               f"{done.stderr.strip().splitlines()[-1:]}")
        new = sorted((here / "results").rglob("*.csv"))
        if len(new) != 1:
            raise RuntimeError(f"the authors' main.py wrote {len(new)} result CSVs, expected 1")
        with open(new[0]) as fh:
            rows = list(csv.DictReader(fh))
    matrix = []
    for i in range(p.tasks):  # the last epoch of task i: its row of the accuracy matrix
        row = next(r for r in rows if int(r["task_order"]) == i + 1
                   and int(r["epoch"]) == p.epochs)
        matrix.append([float(row[f"acc_test_tsk_{j + 1}"]) / 100 for j in range(p.tasks)])
    return {"side": "authors", "seed": seed, "matrix": matrix, "wall_s": wall}


def run_ours(p: Protocol, seed: int, *, data_root: str, out: Path, threads: int,
             eps_placement: str, sign_zero: str = "plus-one") -> dict[str, Any]:
    """``metabnn run`` for ``p`` and ``seed`` (a fresh process, forced): matrix and times."""
    argv = [sys.executable, "-m", "metabnn.cli", "run", "--stream", "pmnist", "--tasks",
            str(p.tasks), "--hidden", *map(str, p.hidden), "--epochs", str(p.epochs),
            "--meta", str(p.meta), "--lr", str(p.lr), "--weight-decay", str(p.weight_decay),
            "--bn-weight-init", p.bn_init, "--eps-placement", eps_placement, "--sign-zero",
            sign_zero, "--seed",
            str(seed), "--data-root", data_root, "--out", str(out), "--registry",
            str(out / "registry.sqlite"), "--force", "--no-progress", "--wandb", "disabled"]
    start = time.perf_counter()
    done = subprocess.run(argv, env=_env(threads), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"metabnn run failed (seed {seed}): {done.stderr.strip()[-300:]}")
    path = next(line.split("results: ", 1)[1] for line in done.stdout.splitlines()
                if line.startswith("results: "))
    results = json.loads(Path(path).read_text())
    return {"side": "metabnn", "seed": seed, "matrix": results["accuracy_matrix"],
            "wall_s": wall, "train_loop_s": results["wall_time_s"], "stamp": results["stamp"],
            "fingerprint": results["fingerprint"]["id"], "git_commit": results["git_commit"]}


def compare(authors: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task: both sides' final accuracies (mean, sd, n), the Welch 95 % interval of
    ``metabnn - authors`` and its p value; ``agree`` when the interval contains 0."""
    tasks = len(authors[0]["matrix"][-1])
    out = []
    for j in range(tasks):
        a = [r["matrix"][-1][j] for r in authors]
        b = [r["matrix"][-1][j] for r in ours]
        interval = welch_interval(b, a)
        p = (float(scipy_stats.ttest_ind(b, a, equal_var=False).pvalue)
             if len(a) > 1 and len(b) > 1 else None)
        out.append({"task": j, "authors": describe(a).__dict__, "metabnn": describe(b).__dict__,
                    "difference": describe(b).mean - describe(a).mean, "interval": interval,
                    "p_value": p,
                    "agree": None if interval is None else interval[0] <= 0 <= interval[1]})
    return out


class RunCache:
    """Finished runs of the grid, one JSON line each (``<out>/independent.runs.jsonl``), so a
    grid of hours survives an interruption: a rerun with the same arguments skips what is done.

    A run's key names everything its result depends on: the side, the protocol, the seed, the
    training images, the threads, and the code (the authors' commit and the changes applied to
    their scratch copy; metabnn's source hash, library versions and Adam epsilon placement).
    Different code, a different key: a run of other code is never reused."""

    def __init__(self, path: Path) -> None:
        import threading

        self.path, self._lock = Path(path), threading.Lock()
        self._done: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for n, line in enumerate(self.path.read_text().splitlines(), start=1):
                try:
                    item = json.loads(line)
                    self._done[item["key"]] = item["result"]
                except (ValueError, KeyError, TypeError):
                    print(f"fidelity: {self.path}:{n} is not a finished run (a line cut by an "
                          "interruption?): that run is redone", file=sys.stderr)

    @staticmethod
    def key(**parts: Any) -> str:
        return json.dumps(parts, sort_keys=True)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._done.get(key)

    def put(self, key: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._done[key] = result
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                fh.write(json.dumps({"key": key, "result": result}) + "\n")
                fh.flush()
                os.fsync(fh.fileno())


def run_jobs(jobs: list[tuple[str, Any]], cache: RunCache, *, workers: int,
             log: Any = print) -> dict[str, dict[str, Any]]:
    """Run the ``(key, thunk)`` jobs not in ``cache``, ``workers`` at a time (each job is its
    own process, so threads suffice here), in the order given; returns every key's result."""
    from concurrent.futures import ThreadPoolExecutor

    todo = [(k, f) for k, f in jobs if cache.get(k) is None]
    log(f"{len(jobs)} runs, {len(jobs) - len(todo)} done before (cache {cache.path}), "
        f"{len(todo)} to run, {workers} at a time")

    def one(job: tuple[str, Any]) -> None:
        key, thunk = job
        result = thunk()
        cache.put(key, result)
        log(f"done: {key} -> final row "
            + " ".join(f"{100 * a:.2f}" for a in result["matrix"][-1])
            + f" ({result['wall_s']:.0f} s)")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(one, job) for job in todo]:
            future.result()
    return {k: cache.get(k) for k, _ in jobs}
