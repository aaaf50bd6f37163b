"""A reproduction's numbers from its runs' results files, and its report in markdown.

One function turns the result files of a recipe at one scale into the summary that the console
report, ``summary.json`` and ``docs/reproductions.md`` all show: :func:`assemble`. It is run by
``metabnn reproduce`` on the runs it just ran or reused, and by the docs builder on the files a
recorded reproduction committed (``docs/reproductions/<name>-<scale>/runs/``), so the page can
be checked against its files.

Each row carries its run's own provenance (stamp, code fingerprint, commit, date, wall time);
the summary's ``provenance`` gathers them: how many runs, which fingerprints (more than one is
flagged on the page), commits, dates, devices, and the run time summed over the runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

from metabnn.reproduce.recipe import BerPlan, Recipe
from metabnn.reproduce.report import (
    column_name,
    compare,
    comparison_markdown,
    markdown,
    metric_value,
    summary_table,
)

__all__ = ["assemble", "render", "verdict_counts", "ber_config_of"]


def _metrics_wanted(recipe: Recipe) -> list[str]:
    report = recipe.report
    names = [*report.get("metrics", []), report.get("y", "average_accuracy"),
             *(c["metric"] for c in recipe.expected)]
    return list(dict.fromkeys(names))


def _own(results: dict[str, Any]) -> dict[str, Any]:
    """A result's own provenance, as row columns."""
    return {"stamp": results.get("stamp"),
            "fingerprint": (results.get("fingerprint") or {}).get("id"),
            "git_commit": results.get("git_commit"), "date": results.get("date"),
            "device": results.get("device"), "wall_time_s": results.get("wall_time_s")}


def _run_rows(recipe: Recipe, spec: Any, results: list[dict[str, Any]]
              ) -> tuple[list[dict[str, Any]], dict[tuple[str, ...], list[dict[str, Any]]],
                         list[str], list[dict[str, Any]]]:
    from metabnn.sweep import expand, matches, planned_values

    metrics = _metrics_wanted(recipe)
    panels_keys = recipe.report.get("panels") or [k for k, _ in spec.grid]
    rows, panels, missing, used = [], {}, [], []
    for planned in expand(spec):
        want = planned_values(spec, planned)
        found = [r for r in results if matches(want, r["config"])]
        label = " ".join(f"{k}={v}" for k, v in planned.point.items())
        if not found:
            missing.append(label)
            continue
        if len(found) > 1:
            raise ValueError(f"{len(found)} results files match planned run {label} "
                             f"({', '.join(str(r.get('stamp')) for r in found)})")
        r = found[0]
        row = {**planned.point, **_own(r)}
        if "model.hidden" in planned.point:  # the x axis of width sweeps (Fig. 3)
            row["width"] = planned.point["model.hidden"][0]
        row.update({m: metric_value(r, m) for m in metrics})
        rows.append(row)
        used.append(r)
        panels.setdefault(tuple(str(planned.point.get(k)) for k in panels_keys), []).append(r)
    return rows, panels, missing, used


def ber_config_of(plan: BerPlan, seed: int) -> dict[str, Any]:
    """The sweep-ber config of ``seed`` as its results file records it (JSON types)."""
    return json.loads(json.dumps(dataclasses.asdict(
        dataclasses.replace(plan.config, seed=seed))))


def _ber_rows(plan: BerPlan, results: list[dict[str, Any]]
              ) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    cell = None
    if plan.cell != "ideal":
        from metabnn.hardware.registry import HARDWARE

        cell = HARDWARE.get(plan.cell)()
    rows, missing, used = [], [], []
    for seed in plan.seeds:
        want = ber_config_of(plan, seed)
        found = [r for r in results if r.get("config") == want]
        if not found:
            missing.append(f"seed={seed}")
            continue
        r = found[0]
        used.append(r)
        raw = r["rows"]
        for training in dict.fromkeys(x["training"] for x in raw):
            for ber in plan.config.bers:
                accs = [float(x["accuracy"]) for x in raw
                        if x["training"] == training and float(x["ber"]) == ber]
                row = {"training": training, "ber": ber, "seed": seed,
                       "accuracy": sum(accs) / len(accs), **_own(r), "stamp": f"seed{seed}"}
                if cell is not None:
                    row["e_write_pj"] = cell.energy_at_ber(ber) if ber > 0 else None
                rows.append(row)
    return rows, missing, used


def _run_time(used: list[dict[str, Any]]) -> float:
    """Wall time summed over the runs; batched seeds share one wall time, counted once."""
    seen, total = set(), 0.0
    for r in used:
        batch = tuple((r.get("batched") or {}).get("stamps") or [r.get("stamp")])
        if batch not in seen:
            seen.add(batch)
            total += float(r.get("wall_time_s") or 0.0)
    return round(total, 1)


def _provenance(used: list[dict[str, Any]]) -> dict[str, Any]:
    fingerprints = Counter(str((r.get("fingerprint") or {}).get("id")) for r in used)
    dates = sorted(str(r.get("date")) for r in used)
    versions = [r.get("versions") or {} for r in used]
    return {
        "runs": len(used),
        "fingerprints": dict(sorted(fingerprints.items())),
        "sources": sorted({str((r.get("fingerprint") or {}).get("sources")) for r in used}),
        "commits": sorted({str(r.get("git_commit")) for r in used}),
        "devices": sorted({str(r.get("device")) for r in used}),
        "dates": [dates[0], dates[-1]] if dates else [],
        "run_time_s": _run_time(used),
        "versions": {k: sorted({str(v.get(k)) for v in versions})
                     for k in ("metabnn", "torch", "avalanche-lib")},
    }


def assemble(recipe: Recipe, scale: str, plan: Any, results: list[dict[str, Any]],
             call: dict[str, Any]) -> dict[str, Any]:
    """The summary of ``recipe`` at ``scale`` from its runs' ``results`` (kind ``runs``: run
    results files; kind ``ber``: per-seed ``sweep_ber.json`` files) and the ``call`` that made
    or recorded them (command, seeds, workers, elapsed time). Returns a JSON-ready dict with
    ``rows``, ``table``, ``comparison``, ``provenance``, ``missing``; ``panels`` (the results of
    each panel of the figure) is added for the caller and not meant to be saved."""
    if isinstance(plan, BerPlan):
        rows, missing, used = _ber_rows(plan, results)
        panels: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        keys = recipe.report.get("rows") or ["training", "ber"]
        planned = len(plan.seeds)
    else:
        rows, panels, missing, used = _run_rows(recipe, plan, results)
        keys = recipe.report.get("rows") or [k for k, _ in plan.grid]
        from metabnn.sweep import expand

        planned = len(expand(plan))
    metrics = recipe.report.get("metrics") or [recipe.report.get("y", "average_accuracy")]
    table = summary_table(rows, keys, metrics)
    return {
        "recipe": recipe.name, "title": recipe.title, "paper": recipe.paper, "scale": scale,
        "protocol": recipe.protocol_of(scale), "kind": recipe.kind, "call": call,
        "planned": planned, "missing": missing, "rows": rows, "table": table,
        "table_columns": [*keys, *(column_name(m) for m in metrics), "n"],
        "comparison": compare(recipe.expected, rows, scale),
        "provenance": _provenance(used), "panels": panels,
    }


def verdict_counts(summary: dict[str, Any]) -> str:
    """``"2 match, 1 inconclusive"``: the comparison's verdicts, counted."""
    verdicts = [e["verdict"] for e in summary["comparison"]]
    return ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts)) or "no claims"


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f} min"


def render(summary: dict[str, Any], *, figure_prefix: str = "",
           current_sources: str | None = None) -> str:
    """The report of one reproduction as markdown (also the docs' section body). With
    ``current_sources`` (this checkout's :func:`metabnn.fingerprint.source_hash`), runs made by
    other sources are flagged: they are that code's result, which this code may not repeat."""
    prov, call = summary["provenance"], summary["call"]
    fps = prov["fingerprints"]
    seeds = ", ".join(str(s) for s in call.get("seeds", []))
    elapsed = call.get("elapsed_s")
    lines = [
        f"**Command:** `{call['command']}` (seeds {seeds})  ",
        f"**Protocol ({summary['scale']}):** {summary['protocol']}  ",
        f"**Runs:** {prov['runs']} of {summary['planned']} planned"
        + (f" (seeds {seeds} of each point)" if summary["kind"] == "runs" else "")
        + f" on {', '.join(prov['devices'])}; run time {_minutes(prov['run_time_s'])} summed "
        "over the runs"
        + (f", {_minutes(elapsed)} elapsed with {call.get('workers')} run(s) at a time"
           if elapsed is not None else "")
        + ".  ",
        f"**Code:** fingerprint {', '.join(fps)}; commit "
        f"{', '.join(c[:12] + ('-dirty' if c.endswith('-dirty') else '') for c in prov['commits'])}"
        f"; made {' to '.join(dict.fromkeys(d[:10] for d in prov['dates']))} (metabnn "
        f"{'/'.join(prov['versions']['metabnn'])}, torch {'/'.join(prov['versions']['torch'])}, "
        f"avalanche-lib {'/'.join(prov['versions']['avalanche-lib'])})  ",
    ]
    if len(fps) > 1:
        lines.append(f"**⚠ Mixed code:** the runs were made by {len(fps)} different code "
                     "fingerprints (" + ", ".join(f"{k}: {v} runs" for k, v in fps.items())
                     + "); the table's `code` column says which made each row.  ")
    older = [s for s in prov.get("sources", []) if s != current_sources]
    if current_sources is not None and older:
        lines.append(f"**⚠ Older code:** these runs were made by code whose sources "
                     f"({', '.join(older)}) differ from this checkout's ({current_sources}): "
                     f"the numbers are that code's; `{call['command']} --record` remakes them "
                     "with this one.  ")
    if summary["missing"]:
        lines.append(f"**⚠ Missing:** {len(summary['missing'])} planned run(s) have no result: "
                     + "; ".join(summary["missing"]) + ".  ")
    columns = list(summary["table_columns"]) + (["code"] if len(fps) > 1 else [])
    lines += [
        "",
        markdown(summary["table"], columns),
        f"Comparison with the paper ({verdict_counts(summary)}; 95 % intervals over seeds, "
        "see the top of this page):",
        "",
        comparison_markdown(summary["comparison"]),
    ]
    if summary.get("figure"):
        lines.append(f"![{summary['recipe']} ({summary['scale']})]"
                     f"({figure_prefix}{summary['figure']})\n")
    return "\n".join(lines)
