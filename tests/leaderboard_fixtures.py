"""Honest synthetic results files for the leaderboard tests, with hand-chosen matrices.

Each is what :func:`metabnn.runner.run` writes for a resolved config: the config, its stamp, the
accuracy matrix with one curve row per experience, the metrics :mod:`metabnn.metrics` computes
from it, and provenance. Only the numbers are made up, so the expected tables can be worked out
by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from metabnn.config import RunConfig, from_dict, stamp, to_dict
from metabnn.fingerprint import fingerprint_id
from metabnn.metrics import joint_summary, summarize

COMMIT = "0123456789abcdef0123456789abcdef01234567"
# unit energies (pJ) of a hardware backend's technology table, round for hand arithmetic
TECHNOLOGY = {q: {"pj": pj, "source": "test", "node_nm": None} for q, pj in (
    ("writes", 0.1), ("verify_reads", 0.01), ("synapse_reads", 0.01), ("popcount_bits", 0.004),
    ("threshold_comparisons", 0.05), ("multibit_macs", 0.23), ("random_bits", 0.02),
    ("hidden_updates", 50.0))}


def fake_fingerprint(sources: str = "0123456789abcdef", threads: int = 2) -> dict[str, Any]:
    """A well-formed code fingerprint (its id is the hash of its fields)."""
    body = {"sources": sources, "torch": "2.0", "avalanche-lib": "0.6.0", "numpy": "2.0",
            "device": "cpu", "threads": threads, "kernels": "separate", "plugins": None}
    return {"id": fingerprint_id(body), **body}


def fake_results(strategy: str, seed: int, R: list[list[float]], *, meta: float = 0.0,
                 scenario: str = "task", stream: str = "pmnist", hardware: dict | None = None,
                 counts: dict | None = None, writes: int | None = None) -> dict[str, Any]:
    R = [list(row) for row in R]  # the caller's lists stay as they are (tests tamper)
    joint = strategy == "joint"
    tasks = len(R[0])
    config = from_dict(RunConfig, {
        "strategy": strategy, "seed": seed,
        "stream": {"name": stream, "tasks": tasks, "scenario": scenario},
        "model": {"name": "bnn", "hidden": [64, 64]}, "train": {"epochs": 1},
        "optim": {"meta": meta}, "hardware": hardware or {}}).validate()
    results = {
        "stamp": stamp(config), "config": to_dict(config), "seed": seed, "scenario": scenario,
        "boundaries": True,
        "strategy": {"name": strategy, "hyperparameters": {"optim.meta": meta},
                     "trains_on": "stream" if joint else "experience"},
        "accuracy_matrix": R,
        "curves": [{"experience": i, "epoch": 0, "accuracy": list(row)} for i, row in enumerate(R)],
        "metrics": joint_summary(R) if joint else summarize(R),
        "wall_time_s": 1.5,
        "versions": {"metabnn": "0.1.0", "torch": "2.0", "avalanche-lib": "0.6.0"},
        "git_commit": COMMIT, "device": "cpu:test x2 threads", "fingerprint": fake_fingerprint(),
        "date": f"2026-01-{seed + 1:02d}T00:00:00+00:00",
    }
    if counts is not None:  # priced by TECHNOLOGY, as a hardware backend records them
        energy = {phase: math.fsum(n * TECHNOLOGY[q]["pj"] for qs in layers.values()
                                   for q, n in qs.items() if q in TECHNOLOGY)
                  for phase, layers in counts.items()}
        results["hardware"] = {"counts": counts, "technology": TECHNOLOGY,
                               "energy_total_pj": energy, "measured_ber": {
                                   "writes": writes, "write_errors": 37,
                                   "ber": 37 / writes if writes else 0.0}}
    return results


def write(folder: Path, results: dict[str, Any]) -> Path:
    path = folder / f"{results['stamp']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return path


# meta (m = 1.35), 3 seeds: final rows average to 0.9, 0.8, 0.85 -> mean 0.85, std 0.05
META = [
    [[0.95, 0.10], [0.90, 0.90]],
    [[0.90, 0.10], [0.70, 0.90]],
    [[0.92, 0.10], [0.80, 0.90]],
]
# naive, 2 seeds: averages 0.7 and 0.6 -> mean 0.65, std 0.0707...; the row is marked
NAIVE = [
    [[0.96, 0.10], [0.50, 0.90]],
    [[0.94, 0.10], [0.30, 0.90]],
]
# joint, 1 seed: average 0.93; BWT and forgetting undefined
JOINT = [[0.92, 0.94]]


def board(folder: Path) -> Path:
    """A board folder with the runs above on pmnist/task, and one domain run with energy."""
    runs = folder / "results"
    for seed, R in enumerate(META):
        write(runs, fake_results("meta", seed, R, meta=1.35))
    for seed, R in enumerate(NAIVE):
        write(runs, fake_results("naive", seed, R))
    write(runs, fake_results("joint", 0, JOINT))
    write(runs, fake_results("meta", 0, [[0.9, 0.2], [0.6, 0.8]], meta=1.35, scenario="domain",
                             hardware={"name": "rram-2t2r"}, writes=1234, counts={
                                 # training device energy: 1234 x 0.1 + 5000 x 0.01 = 173.4 pJ;
                                 # hidden-weight updates and the evaluation passes not counted
                                 "train": {"fc": {"writes": 1234, "synapse_reads": 5000,
                                                  "hidden_updates": 700}},
                                 "evaluation": {"fc": {"synapse_reads": 100000}}}))
    (folder / "board.yaml").write_text("title: test board\nintro: |\n  A fixture.\n")
    return folder
