"""One leaderboard row: the runs of one configuration over its seeds, with provenance.

A *row* gathers the results files (``results.json`` of :func:`metabnn.runner.run`) whose
configs are identical except for the seed: its :attr:`Row.group` is the stamp of the config
without ``seed`` (the same 12-hex SHA-256 as :func:`metabnn.config.stamp`). Over the seeds it
reports, for each metric of :mod:`metabnn.metrics` (final average accuracy, backward transfer
BWT, forgetting as in :data:`metabnn.metrics.FORGETTING_DEFINITION`),

.. math:: \\bar x = \\frac1n \\sum_s x_s, \\qquad
          s_x = \\sqrt{\\frac{1}{n-1} \\sum_s (x_s - \\bar x)^2}

(sample standard deviation; undefined, ``None``, for a single seed), plus the device energy of
training (pJ: the arrays' writes and reads while training; not the digital hidden-weight
updates, not the evaluation passes), device writes and the measured bit error rate of the
hardware backend where a run measured them. Rows with fewer
than :data:`MIN_SEEDS` seeds are marked (:attr:`Row.few_seeds`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from metabnn.config import seedless_stamp
from metabnn.stats import format_sd

__all__ = ["MIN_SEEDS", "SCENARIOS", "METRICS", "Stat", "Provenance", "Row", "group_key",
           "make_rows", "rank_rows", "train_device_energy_pj", "device_writes", "measured_ber",
           "EXTRA_COLUMNS", "DEVICE_COLUMNS", "fmt_pct", "fmt_stat", "fmt_hyperparameters",
           "fmt_run_time"]

MIN_SEEDS = 3
"""Rows with fewer seeds than this are marked as such."""

SCENARIOS = ("task", "domain", "class")
"""Order of a stream's tables: the paper's task-incremental protocol first."""

METRICS = ("average_accuracy", "backward_transfer", "forgetting", "learning_accuracy",
           "ood_auroc")
"""The metrics a row reports, each as mean and sample std over seeds (keys of results' metrics)."""


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation over ``n`` seeds (``std`` is None when ``n < 2``)."""

    mean: float
    std: float | None
    n: int

    @staticmethod
    def of(values: list[float | None]) -> Stat | None:
        """The statistic of the non-None values (None when there are none)."""
        xs = [float(v) for v in values if v is not None]
        if not xs:
            return None
        mean = math.fsum(xs) / len(xs)
        std = (math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
               if len(xs) > 1 else None)
        return Stat(mean, std, len(xs))


@dataclass(frozen=True)
class Provenance:
    """Where a row's numbers come from: one entry per run (by seed) or the distinct values."""

    stamps: tuple[str, ...]
    """config stamps of the runs, in seed order"""
    metabnn: tuple[str, ...]
    """metabnn versions (distinct, sorted)"""
    commits: tuple[str, ...]
    """git commits of the source trees the runs ran from (``-dirty``: uncommitted changes)"""
    fingerprints: tuple[str, ...]
    """code fingerprint ids of the runs (:mod:`metabnn.fingerprint`), in seed order"""
    torch: tuple[str, ...]
    avalanche: tuple[str, ...]
    devices: tuple[str, ...]
    dates: tuple[str, ...]
    """UTC dates the runs' results were written, in seed order"""


@dataclass(frozen=True)
class Row:
    """One ranked entry of a leaderboard table (stream x scenario)."""

    stream: str
    scenario: str
    strategy: str
    model: str
    """model name and hidden widths, e.g. ``bnn 512x512``"""
    hardware: str
    """hardware backend and condition (``rram/nominal``), or ``none`` for the software BNN"""
    hyperparameters: tuple[tuple[str, Any], ...]
    """key hyperparameters: the strategy's own (``metabnn list strategies``), m, lr, epochs"""
    tasks: int
    seeds: tuple[int, ...]
    accuracy: Stat
    bwt: Stat | None
    forgetting: Stat | None
    forgetting_definition: str
    learning: Stat | None
    """learning accuracy: each task right after it was learned (None for older results)"""
    ood_auroc: Stat | None
    """AUROC of out-of-distribution detection (streams run with ``stream.ood``)"""
    memory_kib: Stat | None
    """the inference model's parameters in KiB (1 bit per binary weight, :mod:`metabnn.memory`)"""
    train_device_energy_pj: Stat | None
    device_writes: Stat | None
    measured_ber: Stat | None
    """write errors per device write the hardware backend counted (:func:`measured_ber`)"""
    group: str
    """stamp of the config without its seed: what the row's runs share"""
    best: str
    """stamp of the row's best run (highest final average accuracy; ties: lowest seed)"""
    provenance: Provenance
    same_as: tuple[str, ...] = ()
    """other configurations whose runs gave identical results, seed for seed (the same
    experiment under another name, e.g. ``naive`` and ``meta`` with m = 0): shown once"""

    @property
    def few_seeds(self) -> bool:
        return len(self.seeds) < MIN_SEEDS

    @property
    def name(self) -> str:
        """The strategy, and the other names of the same experiment (``meta = naive m=0.0``)."""
        return " = ".join((self.strategy, *self.same_as))


def group_key(config: dict[str, Any]) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of ``config`` without ``seed``."""
    return seedless_stamp(config)


def train_device_energy_pj(results: dict[str, Any]) -> float | None:
    """Device energy of training (pJ): the memory arrays' writes and reads during training,
    priced by the run's own technology table (:func:`metabnn.hardware.energy.device_energy`);
    the digital hidden-weight updates, the initial programming and the evaluation passes are
    not in it. ``None`` for a run without a hardware backend."""
    from metabnn.hardware.energy import device_energy

    hw = results.get("hardware")
    return device_energy(hw, "train") if isinstance(hw, dict) else None


def device_writes(results: dict[str, Any]) -> int | None:
    """Number of device write events (cell programmings) the hardware backend counted."""
    hw = results.get("hardware")
    measured = hw.get("measured_ber") if isinstance(hw, dict) else None
    return int(measured["writes"]) if isinstance(measured, dict) and "writes" in measured else None


def measured_ber(results: dict[str, Any]) -> float | None:
    """The bit error rate the hardware backend measured: failed writes over device writes
    (``hardware.measured_ber.ber``); ``None`` for a run without a hardware backend."""
    hw = results.get("hardware")
    measured = hw.get("measured_ber") if isinstance(hw, dict) else None
    return float(measured["ber"]) if isinstance(measured, dict) and "ber" in measured else None


EXTRA_COLUMNS: dict[str, tuple[str, str, str]] = {
    "learning_accuracy": ("learning accuracy (%)", "learning", "pct"),
    "ood_auroc": ("OOD AUROC (%)", "ood_auroc", "pct"),
    "memory_kib": ("memory (KiB)", "memory_kib", "num"),
    "train_device_energy_pj": ("train device energy (pJ)", "train_device_energy_pj", "num"),
    "device_writes": ("device writes", "device_writes", "num"),
    "measured_ber": ("measured BER", "measured_ber", "num"),
}
"""The columns a board may add after final accuracy, BWT and forgetting (``columns:`` in
board.yaml): name -> (header, :class:`Row` attribute, ``pct`` or ``num`` for :func:`fmt_stat`)."""

DEVICE_COLUMNS = ("train_device_energy_pj", "device_writes")
"""The extra columns of a board file without ``boards:`` (an older one): every table has them."""


def _float(x: int | None) -> float | None:
    return None if x is None else float(x)


def _model(config: dict[str, Any]) -> str:
    m = config["model"]
    return f"{m['name']} {'x'.join(str(h) for h in m['hidden'])}"


def _hardware(config: dict[str, Any]) -> str:
    hw = config.get("hardware") or {}
    name = hw.get("name", "none")
    return name if name == "none" else f"{name}/{hw.get('condition', 'nominal')}"


def _hyperparameters(results: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    config = results["config"]
    declared = (results.get("strategy") or {}).get("hyperparameters") or {}
    own = {k: v for k, v in declared.items() if "." not in k}
    meta = (results.get("strategy") or {}).get("meta", config["optim"]["meta"])
    key = {**own, "m": meta, "lr": config["optim"]["lr"], "epochs": config["train"]["epochs"]}
    return tuple(sorted(key.items()))


def _row(runs: list[dict[str, Any]]) -> Row:
    runs = sorted(runs, key=lambda r: (r["seed"], r["stamp"]))
    first = runs[0]
    config = first["config"]
    metrics = {k: Stat.of([r["metrics"].get(k) for r in runs]) for k in METRICS}
    accuracy = metrics["average_accuracy"]
    if accuracy is None:  # checked files always have it
        raise ValueError(f"runs {[r['stamp'] for r in runs]} report no average_accuracy")
    best = max(runs, key=lambda r: (r["metrics"]["average_accuracy"], -r["seed"]))
    versions = [r["versions"] for r in runs]
    return Row(
        stream=config["stream"]["name"], scenario=first["scenario"], strategy=config["strategy"],
        model=_model(config), hardware=_hardware(config),
        hyperparameters=_hyperparameters(first), tasks=int(config["stream"]["tasks"]),
        seeds=tuple(r["seed"] for r in runs),
        accuracy=accuracy,
        bwt=metrics["backward_transfer"], forgetting=metrics["forgetting"],
        forgetting_definition=str(first["metrics"].get("forgetting_definition", "")),
        learning=metrics["learning_accuracy"], ood_auroc=metrics["ood_auroc"],
        memory_kib=Stat.of([(r.get("memory") or {}).get("kib") for r in runs]),
        train_device_energy_pj=Stat.of([train_device_energy_pj(r) for r in runs]),
        device_writes=Stat.of([_float(device_writes(r)) for r in runs]),
        measured_ber=Stat.of([measured_ber(r) for r in runs]),
        group=group_key(config), best=best["stamp"],
        provenance=Provenance(
            stamps=tuple(r["stamp"] for r in runs),
            metabnn=tuple(sorted({str(v.get("metabnn")) for v in versions})),
            commits=tuple(sorted({str(r["git_commit"]) for r in runs})),
            fingerprints=tuple(str(r["fingerprint"]["id"]) for r in runs),
            torch=tuple(sorted({str(v.get("torch")) for v in versions})),
            avalanche=tuple(sorted({str(v.get("avalanche-lib")) for v in versions})),
            devices=tuple(sorted({str(r["device"]) for r in runs})),
            dates=tuple(str(r["date"]) for r in runs),
        ),
    )


def _canonical(config: dict[str, Any]) -> str:
    """The group stamp of ``config`` with the one known alias resolved: metaplastic Adam with
    m = 0 *is* Adam, so ``meta`` at ``optim.meta = 0`` is the experiment ``naive`` runs."""
    config = json.loads(json.dumps(config))
    if config.get("strategy") == "meta" and config.get("optim", {}).get("meta") == 0:
        config["strategy"] = "naive"
    return group_key(config)


def _outcome(runs: list[dict[str, Any]]) -> str:
    """Which experiment a configuration's runs are, and what they produced seed by seed: two
    rows merge only when both agree (an alias whose results differ stays two rows)."""
    return json.dumps([_canonical(runs[0]["config"]),
                       sorted((r["seed"], r["accuracy_matrix"], [c["accuracy"] for c in
                                                                 r["curves"]]) for r in runs)])


def _alias(row: Row, kept: Row) -> str:
    """``row``'s name beside ``kept``'s: its strategy and the hyperparameters that differ."""
    theirs = dict(kept.hyperparameters)
    differ = [f"{k}={json.dumps(v)}" for k, v in row.hyperparameters if theirs.get(k) != v]
    return " ".join([row.strategy, *differ, *(["(" + row.model + ")"] if row.model != kept.model
                                             else [])])


def rank_rows(results: list[dict[str, Any]]) -> list[Row]:
    """One table's rows: runs grouped by config without seed; configurations that are one
    experiment under two names (:func:`_canonical`) *and* gave identical results seed for seed
    merged into one row (:attr:`Row.same_as`); ranked by mean final average accuracy (ties by
    group stamp)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(group_key(r["config"]), []).append(r)
    same: dict[str, list[Row]] = {}
    for key in sorted(groups):
        runs = groups[key]
        same.setdefault(_outcome(runs), []).append(_row(runs))
    rows = []
    for twins in same.values():
        twins.sort(key=lambda r: (r.strategy, r.group))
        kept = twins[0]
        if len(twins) > 1:
            kept = replace(kept, same_as=tuple(_alias(t, kept) for t in twins[1:]))
        rows.append(kept)
    return sorted(rows, key=lambda r: (-r.accuracy.mean, r.group))


def make_rows(results: list[dict[str, Any]]) -> dict[tuple[str, str], list[Row]]:
    """Checked results -> ranked rows per (stream, scenario), tables in sorted order.

    Tables: by stream, then scenario in :data:`SCENARIOS` order. Rank: mean final average
    accuracy, highest first; ties by group stamp, so the order never depends on the order the
    files were read in.
    """
    tables: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        tables.setdefault((r["config"]["stream"]["name"], r["scenario"]), []).append(r)
    order = {s: i for i, s in enumerate(SCENARIOS)}
    return {key: rank_rows(runs) for key, runs in sorted(tables.items(), key=lambda kv: (
        kv[0][0], order.get(kv[0][1], len(order)), kv[0][1]))}


def fmt_pct(x: float | None) -> str:
    """A fraction as a percentage with two decimals; an em dash when undefined."""
    return "—" if x is None else f"{100 * x:.2f}"


def fmt_stat(s: Stat | None, scale: str = "pct") -> str:
    """``mean ± std`` (percent, or ``%.4g`` with ``scale="num"``); ``± n/a`` for one seed. A
    percent std that two decimals would show as ``0.00`` keeps one significant digit
    (:func:`metabnn.stats.format_sd`), so close seeds never read as identical ones."""
    if s is None:
        return "—"
    if scale == "pct":
        std = "n/a" if s.std is None else format_sd(100 * s.std)
        return f"{fmt_pct(s.mean)} ± {std}"
    return f"{s.mean:.4g} ± {'n/a' if s.std is None else f'{s.std:.4g}'}"


def fmt_hyperparameters(row: Row) -> str:
    """``key=value`` pairs, sorted by key, separated by spaces."""
    return " ".join(f"{k}={json.dumps(v)}" for k, v in row.hyperparameters)


def fmt_run_time(recorded: int, run_time_s: float) -> str:
    """A sweep's recorded run time in minutes (``"12.3 min"``; ``"—"`` with nothing
    recorded)."""
    return f"{run_time_s / 60:.1f} min" if recorded else "—"
