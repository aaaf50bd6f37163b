"""The board's README.md: ranked Markdown tables (mean ± std over seeds) and provenance."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from metabnn.leaderboard.protocol import describe
from metabnn.leaderboard.schema import (
    EXTRA_COLUMNS,
    MIN_SEEDS,
    Row,
    fmt_hyperparameters,
    fmt_run_time,
    fmt_stat,
)

if TYPE_CHECKING:
    from metabnn.leaderboard.build import Board

__all__ = ["readme_text", "table_title"]

_SCENARIOS = {"task": "task-incremental", "domain": "domain-incremental",
              "class": "class-incremental"}


def table_title(stream: str, scenario: str) -> str:
    return f"{stream}, {_SCENARIOS.get(scenario, scenario)}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(rows: list[Row], columns: tuple[str, ...]) -> list[str]:
    """The ranked rows with the page's columns (:data:`~metabnn.leaderboard.page.COLUMNS`) and
    the board's own (``columns``, keys of :data:`EXTRA_COLUMNS`)."""
    heads = ["#", "strategy", "model", "hardware", "key hyperparameters", "seeds",
             "final avg. accuracy (%)", "BWT (%)", "forgetting (%)",
             *(EXTRA_COLUMNS[c][0] for c in columns)]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for rank, r in enumerate(rows, start=1):
        seeds = f"{len(r.seeds)}{' †' if r.few_seeds else ''}"
        lines.append("| " + " | ".join(_cell(c) for c in (
            str(rank), r.name, r.model, r.hardware, fmt_hyperparameters(r), seeds,
            fmt_stat(r.accuracy), fmt_stat(r.bwt), fmt_stat(r.forgetting),
            *(fmt_stat(getattr(r, EXTRA_COLUMNS[c][1]), EXTRA_COLUMNS[c][2])
              for c in columns))) + " |")
    return lines


def _provenance(rows: list[Row]) -> list[str]:
    lines = ["| # | strategy | group | runs (config stamps, by seed) | code fingerprint | "
             "metabnn | commit | torch | avalanche | device | dates (UTC) |", "|" + "---|" * 11]
    for rank, r in enumerate(rows, start=1):
        p = r.provenance
        lines.append("| " + " | ".join(_cell(c) for c in (
            str(rank), r.name, f"`{r.group}`",
            " ".join(f"`{s}`" + ("\\*" if s == r.best else "") for s in p.stamps),
            ", ".join(f"`{f}`" for f in dict.fromkeys(p.fingerprints)), ", ".join(p.metabnn),
            ", ".join(c[:12] + ("-dirty" if c.endswith("-dirty") else "") for c in p.commits),
            ", ".join(p.torch), ", ".join(p.avalanche), "; ".join(p.devices),
            ", ".join(d[:10] for d in sorted(set(p.dates))))) + " |")
    return lines


def readme_text(board: Board) -> str:
    """The whole README.md; its first line says it is generated."""
    from metabnn.leaderboard.build import GENERATED
    from metabnn.leaderboard.page import summary_figure

    out = [f"<!-- {GENERATED} -->", f"# {board.title}", ""]
    if board.intro:
        out += [board.intro, ""]
    out += ["Each row is one configuration over its seeds: mean ± sample standard deviation "
            "(n − 1) of the final average accuracy, backward transfer (BWT, Lopez-Paz & Ranzato "
            "2017) and forgetting (see below), in percent; ranked by mean final average "
            f"accuracy. † marks rows with fewer than {MIN_SEEDS} seeds. The tables are also in "
            "the CSV files next to this one, and in `index.html` (sortable, with the "
            "forgetting curve of each row's best run).", ""]
    per_table = any(t.coverage for t in board.tables.values())
    if per_table:
        out += ["## Scope", "", "Run time: the sum of the recorded runs' wall times (one thread "
                "each), in CPU-minutes (2 runs at a time on 2 cores take about half as long).", "",
                "| board | sweep | planned runs | recorded | run time | not recorded |",
                "|---|---|---|---|---|---|"]
        for t in board.tables.values():
            for c in t.coverage:
                missing = "; ".join(c.missing) if c.missing else "—"
                out.append(f"| [{t.id}](#{t.id}) | `{c.sweep}` | {c.planned} | {c.recorded} | "
                           f"{fmt_run_time(c.recorded, c.run_time_s)} | "
                           f"{_cell(missing)} |")
        every = [c for t in board.tables.values() for c in t.coverage]
        recorded = sum(c.recorded for c in every)
        out += [f"| **all boards** | | {sum(c.planned for c in every)} | {recorded} | "
                f"{fmt_run_time(recorded, math.fsum(c.run_time_s for c in every))} | |", ""]
    elif board.coverage:
        out += ["## Scope", "", "| sweep | planned runs | recorded | run time | not recorded |",
                "|---|---|---|---|---|"]
        for c in board.coverage:
            missing = "; ".join(c.missing) if c.missing else "—"
            out.append(f"| `{c.sweep}` | {c.planned} | {c.recorded} | "
                       f"{fmt_run_time(c.recorded, c.run_time_s)} | {_cell(missing)} |")
        out.append("")
    definitions = sorted({r.forgetting_definition for t in board.tables.values()
                          for r in t.rows if r.forgetting is not None})
    for t in board.tables.values():
        out += [f'<a id="{t.id}"></a>', "", f"## {t.title}", ""]
        if t.protocol is not None:
            seeds = f"; seeds {', '.join(map(str, t.seeds_planned))}" if t.seeds_planned else ""
            out += [f"Protocol: {describe(t.protocol)}{seeds}.", ""]
        if t.note:
            out += [t.note, ""]
        if not t.rows:
            out += ["No run recorded yet." if t.coverage else "No run planned.", ""]
            continue
        out += [f"CSV: [`{t.id}.csv`]({t.id}.csv)", ""]
        if t.coverage and summary_figure(t):  # none without forgetting (stream learning)
            out += [f"![final accuracy against forgetting, one mark per row]({t.id}.svg)", ""]
        out += [*_table(t.rows, t.columns), "",
                "<details><summary>provenance (* = the row's best run)</summary>", "",
                *_provenance(t.rows), "", "</details>", ""]
    if definitions:
        out += ["## Definitions", ""]
        out += [f"- forgetting: {d}" for d in definitions]
        out += ["- BWT: mean over old tasks of R[T-1, j] − R[j, j] (Lopez-Paz & Ranzato 2017)",
                "- final average accuracy: mean over tasks of R[T-1, j]", ""]
    return "\n".join(out)
