"""``metabnn compare``: runs side by side, one row per configuration over its seeds.

The runs come from the registry (done runs only): by stamp (or unambiguous prefix), by sweep, or
by filter (strategy, stream, status). Runs whose configs differ only in the seed form one row,
with mean ± sample sd over the seeds of final average accuracy, backward transfer and
forgetting (percentage points), the mean final accuracy of every task (the last row of the
accuracy matrix), the inference model's memory (KiB, :mod:`metabnn.memory`), n and the seeds;
the settings that differ between the rows (any config key, strategy parameters included) are
columns of their own, the rest is the same for all and printed once. Text, CSV, JSON or
Markdown.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from metabnn.config import ConfigError, seedless_stamp
from metabnn.files import read_json
from metabnn.runs import RunRegistry
from metabnn.stats import Summary, describe, format_mean_sd
from metabnn.sweep import flat_config

__all__ = ["FORMATS", "select_runs", "compare_rows", "render"]

FORMATS = ("text", "csv", "json", "md")
_METRICS = (("average_accuracy", "accuracy (%)"), ("backward_transfer", "BWT (points)"),
            ("forgetting", "forgetting (points)"))


def select_runs(db: RunRegistry, stamps: list[str], **filters: Any) -> list[dict[str, Any]]:
    """The results of the done runs named by ``stamps`` (prefixes allowed) or matching the
    registry ``filters`` (sweep, strategy, stream); each with its ``path``."""
    if stamps:
        rows = []
        for s in stamps:
            row = db.get(s)
            if row is None:
                raise ConfigError(f"no run {s!r} in {db.path}")
            rows.append(row)
    else:
        rows = db.list(status="done", **filters)
    out = []
    for row in rows:
        if row["status"] != "done" or not row.get("results_path"):
            raise ConfigError(f"run {row['stamp']} is {row['status']}: only done runs compare")
        results = read_json(row["results_path"], "results file")
        out.append({**results, "path": row["results_path"]})
    if not out:
        raise ConfigError(f"no done runs match in {db.path}")
    return out


def compare_rows(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, common): one row per configuration without its seed, and the settings every row
    shares."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(seedless_stamp(r["config"]), []).append(r)
    # an empty mapping (no params) says nothing; kept, it would differ from a filled one's
    # dotted keys and show up as a column of its own
    flats = {g: {k: v for k, v in flat_config(
        {k: v for k, v in runs[0]["config"].items() if k != "seed"}).items() if v != {}}
        for g, runs in groups.items()}
    keys = sorted({k for f in flats.values() for k in f})
    differing = [k for k in keys
                 if len({json.dumps(f.get(k), sort_keys=True) for f in flats.values()}) > 1]
    first = next(iter(flats.values()))
    common = {k: first.get(k) for k in keys if k not in differing}
    rows = []
    for g, runs in groups.items():
        runs = sorted(runs, key=lambda r: r["seed"])
        row: dict[str, Any] = {k: flats[g].get(k) for k in differing}
        for metric, _ in _METRICS:
            values = [r["metrics"].get(metric) for r in runs]
            s = describe([v for v in values if isinstance(v, (int, float))])
            row[metric] = None if s is None else {"mean": s.mean, "sd": s.sd, "n": s.n}
        last = [r["accuracy_matrix"][-1] for r in runs]
        row["final_row"] = [math.fsum(col) / len(col) for col in zip(*last)]
        kib = [r["memory"]["kib"] for r in runs if "kib" in (r.get("memory") or {})]
        row["memory_kib"] = math.fsum(kib) / len(kib) if kib else None
        row["n"] = len(runs)
        row["seeds"] = [r["seed"] for r in runs]
        row["stamps"] = [r["stamp"] for r in runs]
        rows.append(row)
    rows.sort(key=lambda r: -(r["average_accuracy"] or {"mean": -1})["mean"])
    return rows, common


def _cells(row: dict[str, Any], differing: list[str]) -> list[str]:
    cells = ["—" if row[k] is None  # a parameter this row's strategy does not have
             else row[k] if isinstance(row[k], str) else json.dumps(row[k]) for k in differing]
    for metric, _ in _METRICS:
        m = row[metric]
        cells.append("—" if m is None else format_mean_sd(Summary(m["mean"], m["sd"], m["n"]),
                                                          100))
    memory = row.get("memory_kib")
    cells += [" ".join(f"{100 * a:.2f}" for a in row["final_row"]),
              "—" if memory is None else f"{memory:.1f}", str(row["n"]),
              " ".join(map(str, row["seeds"]))]
    return cells


def render(rows: list[dict[str, Any]], common: dict[str, Any], fmt: str = "text") -> str:
    """The comparison as ``text``, ``csv``, ``json`` or ``md``."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is invalid: use one of {', '.join(FORMATS)}")
    differing = [k for k in rows[0] if k not in {m for m, _ in _METRICS}
                 and k not in ("final_row", "memory_kib", "n", "seeds", "stamps")]
    header = [*differing, *(label for _, label in _METRICS), "final row (%)", "memory (KiB)",
              "n", "seeds"]
    table = [_cells(r, differing) for r in rows]
    if fmt == "json":
        return json.dumps({"common": common, "rows": rows}, indent=2, sort_keys=True)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([*header, "stamps"])
        w.writerows([*cells, " ".join(r["stamps"])] for cells, r in zip(table, rows))
        return buf.getvalue()
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in cells) + " |" for cells in table]
        shared = ", ".join(f"`{k}={json.dumps(v)}`" for k, v in common.items())
        return "\n".join(lines) + f"\n\nSame in every row: {shared}\n"
    widths = [max(len(h), *(len(c[i]) for c in table)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in table]
    shared = ", ".join(f"{k}={json.dumps(v)}" for k, v in common.items())
    return "\n".join(lines) + f"\nsame in every row: {shared}"


def main_compare(stamps: list[str], *, registry: Path, fmt: str, **filters: Any) -> str:
    """Select, group and render (the command line's call)."""
    if not registry.exists():
        raise ConfigError(f"no run registry at {registry} (--registry PATH or --out DIR)")
    rows, common = compare_rows(select_runs(RunRegistry(registry), stamps, **filters))
    return render(rows, common, fmt)
