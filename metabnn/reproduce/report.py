"""Tables of a reproduction and their comparison with the paper's values and claims.

A reproduction is reduced to *rows*: one per run (kind ``runs``: its grid point, seed and
metrics) or one per (training, BER, seed) (kind ``ber``). Metric names:

* a key of ``results["metrics"]`` (``average_accuracy``, ``bwt``, ``final_accuracy``, ...);
* ``task_accuracy:K`` — :math:`R_{T-1,K}`, task K's test accuracy after the last experience
  (``K = -1``: the last task); ``min_task_accuracy`` — :math:`\\min_K R_{T-1,K}`;
* ``test_energy_nj_per_image`` — hardware runs: the energy of the evaluation passes over the
  images they read (every evaluation of every task): what classifying one image costs;
* ``R:i:j`` — :math:`R_{ij}`, task j's accuracy after experience i;
* ``recent_accuracy:K`` — the final accuracy of the K most recently learned tasks (the MESU
  paper's "5 most recent tasks"); ``learning_accuracy_last:K`` — :math:`R_{jj}` over the last K
  tasks (plasticity at the end of a long stream); ``epoch_time_s`` — the run's wall time per
  training epoch (training and its evaluations); ``memory_kib`` — the inference model's
  parameters in KiB (1 bit per binary weight, 32 per real value: :mod:`metabnn.memory`);
* kind ``ber``: ``accuracy`` and ``e_write_pj`` (the cell's programming energy at that BER).

A claim is checked on the seeds of the rows its ``where`` selects, with a 95 % interval
(:mod:`metabnn.stats`): with a ``band`` for the scale, the Student's t interval of the mean must
lie inside the band for **match** and wholly outside it for **differs**; with ``versus``, the
interval of the difference of the two means (Welch's t for two selections of runs, paired t for
two metrics of the same runs) must lie at or above ``margin`` for **match** and wholly below it
for **differs**. Anything else, including a single seed on either side, is **inconclusive**.
Accuracies are shown in percent, BWT and forgetting (and every difference of accuracies) in
percentage points.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from metabnn.stats import (
    Summary,
    describe,
    format_mean_sd,
    mean_interval,
    paired_interval,
    verdict,
    welch_interval,
)

__all__ = ["metric_value", "select", "mean_of", "summary_table", "compare", "markdown",
           "is_fraction", "unit_of", "column_name"]


def metric_value(results: dict[str, Any], name: str) -> float | None:
    """``name`` (see the module docstring) of one run's results, or None if it has none."""
    matrix = results.get("accuracy_matrix") or [[]]
    if name.startswith("task_accuracy:"):
        k = int(name.split(":", 1)[1])
        last = matrix[-1]
        return float(last[k]) if -len(last) <= k < len(last) else None
    if name.startswith("R:"):
        i, j = (int(v) for v in name.split(":")[1:3])
        return float(matrix[i][j]) if -len(matrix) <= i < len(matrix) and -len(
            matrix[i]) <= j < len(matrix[i]) else None
    if name == "min_task_accuracy":
        return float(min(matrix[-1])) if matrix[-1] else None
    if name.startswith(("recent_accuracy:", "learning_accuracy_last:")):
        k = int(name.split(":", 1)[1])
        n = min(len(matrix), len(matrix[-1]))
        if n == 0 or k < 1:
            return None
        tasks = range(max(0, n - k), n)
        if name.startswith("recent"):
            return sum(float(matrix[-1][j]) for j in tasks) / len(tasks)
        return sum(float(matrix[j][j]) for j in tasks) / len(tasks)
    if name == "memory_kib":
        memory = results.get("memory") or {}
        return float(memory["kib"]) if "kib" in memory else None
    if name == "epoch_time_s":
        wall = results.get("wall_time_s")
        return None if not wall else float(wall) / _epochs(results)
    if name == "test_energy_nj_per_image":
        hw = results.get("hardware")
        if not hw:
            return None
        images = _test_images(results)
        totals = hw.get("energy_total_pj") or {}
        energy = totals.get("evaluation", totals.get("inference"))  # the phase's earlier name
        return None if energy is None or not images else energy / images / 1e3
    value = (results.get("metrics") or {}).get(name)
    return float(value) if isinstance(value, (int, float)) else None


def _epochs(results: dict[str, Any]) -> int:
    """Training epochs over the whole stream (experiences x epochs per experience)."""
    config = results.get("config") or {}
    per = (config.get("train") or {}).get("epochs") or 1
    return max(1, len(results.get("accuracy_matrix") or [[]]) * int(per))


def _test_images(results: dict[str, Any]) -> int:
    """Test images read over the run (every evaluation): the first layer's evaluation samples."""
    phases = (results.get("hardware") or {}).get("counts") or {}
    counts = phases.get("evaluation", phases.get("inference")) or {}
    samples = [q.get("samples", 0) for q in counts.values() if isinstance(q, dict)]
    return int(max(samples, default=0))


def is_fraction(metric: str) -> bool:
    """Accuracy-like metrics are fractions, shown in percent."""
    return ("accuracy" in metric or metric.startswith("R:")
            or metric in ("bwt", "backward_transfer", "forgetting", "average_forgetting"))


def _fmt(metric: str, value: float | None, unit: str | None = None) -> str:
    if value is None:
        return "—"
    if is_fraction(metric):
        return f"{100 * value:.2f}%"
    return f"{value:.4g}{(' ' + unit) if unit else ''}"


def select(rows: Sequence[dict[str, Any]], where: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows whose keys equal every value of ``where`` (numbers compared as floats).

    ``"max"`` / ``"min"`` stand for the largest / smallest value of a numeric key among the
    rows (e.g. the widest network of whatever widths a scale runs).
    """
    def same(a: Any, b: Any) -> bool:
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(
                a, bool) and not isinstance(b, bool):
            return float(a) == float(b)
        return a == b if not isinstance(a, (list, tuple)) else list(a) == list(b)

    resolved = {}
    for key, value in where.items():
        if value in ("max", "min"):
            values = [r[key] for r in rows
                      if isinstance(r.get(key), (int, float)) and not isinstance(r[key], bool)]
            value = (max if value == "max" else min)(values) if values else None
        resolved[key] = value
    return [r for r in rows if all(k in r and same(r[k], v) for k, v in resolved.items())]


def mean_of(rows: Sequence[dict[str, Any]], where: dict[str, Any], metric: str
            ) -> tuple[float | None, int]:
    """Mean of ``metric`` over the selected rows that have it, and how many there were."""
    values = [r[metric] for r in select(rows, where) if r.get(metric) is not None]
    return (statistics.fmean(values) if values else None), len(values)


def _label(value: Any) -> str:
    return "x".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def short_key(key: str) -> str:
    """``optim.meta`` -> ``m``, ``model.name`` -> ``model``, ``hardware.sc_bits`` -> ``sc_bits``."""
    *parents, leaf = key.split(".")
    if leaf == "meta":
        return "m"
    return parents[-1] if leaf == "name" and parents else leaf


def unit_of(metric: str, unit: str | None = None) -> str:
    """The unit a metric is shown in: ``%`` for accuracies, ``points`` for BWT and forgetting
    (both percentage points of accuracy), else the claim's ``unit`` (or none)."""
    if is_fraction(metric):
        return "%" if "accuracy" in metric or metric.startswith("R:") else "points"
    return unit or ""


def column_name(metric: str, unit: str | None = None) -> str:
    """A table header: the metric and its unit, e.g. ``backward_transfer (points)``."""
    u = unit_of(metric, unit)
    return f"{metric} ({u})" if u else metric


def _values(rows: Sequence[dict[str, Any]], metric: str) -> list[float]:
    return [float(r[metric]) for r in rows if r.get(metric) is not None]


def summary_table(rows: Sequence[dict[str, Any]], keys: Sequence[str],
                  metrics: Sequence[str]) -> list[dict[str, Any]]:
    """One row per distinct value of ``keys`` (first-seen order): each metric's mean and sample
    standard deviation over the seeds (``"96.81 ± 0.12"``, percent or points for fractions;
    ``"± n/a"`` for one seed), the number of seeds ``n`` and the code fingerprints of the runs
    (``code``). Columns are named with their units (:func:`column_name`)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(_label(r.get(k)) for k in keys), []).append(r)
    table = []
    for labels, members in groups.items():
        out: dict[str, Any] = dict(zip(keys, labels))
        n = 0
        for metric in metrics:
            values = _values(members, metric)
            n = max(n, len(values))
            scale = 100 if is_fraction(metric) else 1
            out[column_name(metric)] = format_mean_sd(describe(values), scale) if scale == 100 \
                else _fmt_num(describe(values))
        out["n"] = n
        out["code"] = " ".join(sorted({str(m.get("fingerprint")) for m in members}))
        table.append(out)
    return table


def _fmt_num(s: Summary | None) -> str:
    if s is None:
        return "—"
    return f"{s.mean:.4g} ± {'n/a' if s.sd is None else f'{s.sd:.2g}'}"


def _signed(x: float) -> str:
    return f"{x:+.2f}"


def compare(expected: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], scale: str
            ) -> list[dict[str, Any]]:
    """Each expected value or claim, our mean ± sd over seeds, the effect's 95 % interval and
    the verdict (:func:`metabnn.stats.verdict`; see the module docstring)."""
    out = []
    for claim in expected:
        metric = claim["metric"]
        where = claim.get("where") or {}
        mine = select(rows, where)
        values = _values(mine, metric)
        ours = describe(values)
        paper = claim.get("paper")
        k = 100 if is_fraction(metric) else 1
        unit = " points" if is_fraction(metric) else (" " + claim.get("unit", "")).rstrip()
        entry: dict[str, Any] = {
            "claim": claim["claim"], "source": claim["source"], "metric": metric,
            "where": where, "ours": None if ours is None else ours.mean,
            "sd": None if ours is None else ours.sd, "n": len(values), "paper": paper,
            "paper_text": _fmt(metric, paper, claim.get("unit")) if paper is not None else "—",
            "ours_text": "—" if ours is None else (
                f"{format_mean_sd(ours, k)}{'%' if k == 100 else ''} (n={ours.n})"),
        }
        if ours is None:
            entry.update(verdict="missing", detail="no run measured it")
            out.append(entry)
            continue
        if "versus" in claim:
            other_metric = claim["versus"].get("metric", metric)
            other_where = claim["versus"].get("where", where)
            theirs = select(rows, other_where)
            margin = float(claim["versus"].get("margin", 0.0))
            other_values = _values(theirs, other_metric)
            if not other_values:
                entry.update(verdict="missing", detail="the comparison runs are missing")
                out.append(entry)
                continue
            stamps = [r.get("stamp") for r in mine]
            same_runs = None not in stamps and stamps == [r.get("stamp") for r in theirs]
            if same_runs and len(values) == len(other_values):
                interval, method = paired_interval(values, other_values), "paired t"
            else:
                interval, method = welch_interval(values, other_values), "Welch's t"
            other_mean = statistics.fmean(other_values)
            gap = statistics.fmean(values) - other_mean
            result = verdict(interval, margin=margin)
            ci = ("no interval: needs >= 2 seeds on each side" if interval is None else
                  f"95% CI [{_signed(k * interval[0])}, {_signed(k * interval[1])}] "
                  f"({method}, n={len(values)} vs {len(other_values)})")
            entry.update(
                versus=other_mean, effect=gap, interval=interval,
                verdict=result, method=method,
                detail=f"{_signed(k * gap)}{unit} against "
                       f"{(other_metric + ' of ') if other_metric != metric else ''}"
                       f"{_where_text(other_where)} ({_fmt(metric, other_mean)})"
                       f", {ci}; claim needs >= {k * margin:+g}{unit}")
        else:
            band = (claim.get("band") or {}).get(scale)
            off_paper = (f"; {k * (ours.mean - paper):+.2f}{unit} from the paper"
                         if paper is not None else "")
            if band is None:
                entry.update(verdict="not checked",
                             detail=f"no band at the {scale} scale{off_paper}")
                out.append(entry)
                continue
            lo, hi = float(band[0]), float(band[1])
            interval = mean_interval(values)
            ci = ("no interval: needs >= 2 seeds" if interval is None else
                  f"95% CI [{k * interval[0]:.2f}, {k * interval[1]:.2f}] (t, n={ours.n})")
            entry.update(verdict=verdict(interval, band=(lo, hi)), band=[lo, hi],
                         interval=interval, effect=ours.mean, method="t",
                         detail=f"band [{_fmt(metric, lo)}, {_fmt(metric, hi)}], {ci}"
                                f"{off_paper}")
        out.append(entry)
    return out


def _where_text(where: dict[str, Any]) -> str:
    return ", ".join(f"{short_key(k)}={_label(v)}" for k, v in where.items()) or "all runs"


def markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub markdown table of ``rows`` (dicts), ``columns`` in order (default: all keys)."""
    if not rows:
        return "(no rows)\n"
    columns = list(columns or dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")).replace("|", "/") for c in columns)
                     + " |")
    return "\n".join(lines) + "\n"


def comparison_markdown(entries: Sequence[dict[str, Any]]) -> str:
    """The comparison as a markdown table: claim, where, source, paper, ours, verdict."""
    rows = [{"claim": e["claim"], "runs": _where_text(e["where"]), "source": e["source"],
             "paper": e["paper_text"], "ours": e.get("ours_text", "—"),
             "verdict": f"**{e['verdict']}** ({e['detail']})"} for e in entries]
    return markdown(rows, ["claim", "runs", "source", "paper", "ours", "verdict"])


__all__ += ["comparison_markdown", "short_key"]
