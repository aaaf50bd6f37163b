"""The board's ``index.html``: one self-contained, static page (inline CSS and JS, no network).

One table per stream and scenario, ranked as in README.md; clicking a header sorts by that
column (again: reversed); selects filter the rows by model and by hardware, and a box hides rows
with fewer than three seeds. Hovering a row shows its provenance in short; its ▸ button expands
the full provenance (config stamps by seed, versions, commits, devices, dates, hyperparameters)
and the forgetting curve of the row's best run (:func:`~metabnn.leaderboard.svg.forgetting_svg`).
The best entry of each table has its curve shown under the table. Everything is text generated
in a fixed order, so the page is byte-identical for the same runs.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import TYPE_CHECKING, Any

from metabnn.leaderboard.protocol import describe
from metabnn.leaderboard.schema import (
    EXTRA_COLUMNS,
    MIN_SEEDS,
    Row,
    Stat,
    fmt_hyperparameters,
    fmt_run_time,
    fmt_stat,
)
from metabnn.leaderboard.svg import forgetting_svg, summary_svg

if TYPE_CHECKING:
    from metabnn.leaderboard.build import Board, Coverage, Table

__all__ = ["html_page", "summary_figure", "COLUMNS"]

COLUMNS = ("#", "strategy", "model", "hardware", "key hyperparameters", "seeds",
           "final avg. accuracy (%)", "BWT (%)", "forgetting (%)")
"""Every table's columns (as README.md's); a board adds its own after them (:attr:`~metabnn.
leaderboard.build.Table.columns`, from :data:`~metabnn.leaderboard.schema.EXTRA_COLUMNS`)."""

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1280px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.row:hover{background:#f7fbff}tr.few td{color:#666}.few-mark{color:#b35900}
tr.detail td{background:#fafafa}code{font-size:.92em}
.filters{background:#f4f4f4;padding:.5em .8em;border-radius:4px}
.filters label{margin-right:1.5em}button.more{border:0;background:none;cursor:pointer;font-size:1em}
dl.prov{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.3em 0}
dl.prov dt{font-weight:600}.best{display:flex;gap:1em;align-items:flex-start}
.scope td,.scope th{font-size:.92em}
"""

_JS = """
(function () {
  'use strict';
  function val(row, i) { return row.cells[i].getAttribute('data-v') || row.cells[i].textContent; }
  document.querySelectorAll('table.lb').forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      th.addEventListener('click', function () {
        var down = th.getAttribute('aria-sort') === 'ascending';
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', down ? 'descending' : 'ascending');
        var body = table.tBodies[0], num = th.getAttribute('data-type') === 'num';
        var rows = Array.prototype.filter.call(body.rows, function (r) {
          return r.classList.contains('row'); });
        rows.sort(function (a, b) {
          var x = val(a, i), y = val(b, i), c;
          if (num) {
            x = x === '' ? NaN : Number(x); y = y === '' ? NaN : Number(y);
            if (isNaN(x) || isNaN(y)) { return isNaN(x) - isNaN(y); }  // undefined: last
            c = x - y;
          } else { c = x.localeCompare(y); }
          return (down ? -c : c) || (Number(val(a, 0)) - Number(val(b, 0)));
        });
        rows.forEach(function (r) {
          var d = document.getElementById(r.getAttribute('data-detail'));
          body.appendChild(r); body.appendChild(d);
        });
      });
    });
  });
  document.querySelectorAll('button.more').forEach(function (b) {
    b.addEventListener('click', function (e) {
      e.stopPropagation();
      var d = document.getElementById(b.getAttribute('aria-controls'));
      var open = b.getAttribute('aria-expanded') === 'true';
      b.setAttribute('aria-expanded', open ? 'false' : 'true');
      b.textContent = open ? '\\u25B8' : '\\u25BE';
      d.hidden = open;
    });
  });
  function filter() {
    var m = document.getElementById('f-model').value;
    var h = document.getElementById('f-hardware').value;
    var few = document.getElementById('f-few').checked;
    document.querySelectorAll('tr.row').forEach(function (r) {
      var show = (!m || r.getAttribute('data-model') === m) &&
        (!h || r.getAttribute('data-hardware') === h) &&
        !(few && r.classList.contains('few'));
      r.hidden = !show;
      var d = document.getElementById(r.getAttribute('data-detail'));
      var b = r.querySelector('button.more');
      d.hidden = !show || b.getAttribute('aria-expanded') !== 'true';
    });
  }
  ['f-model', 'f-hardware', 'f-few'].forEach(function (id) {
    document.getElementById(id).addEventListener('change', filter);
  });
}());
"""


def _e(x: Any) -> str:
    return escape(str(x), quote=True)


def _num(s: Stat | None) -> str:
    return "" if s is None else repr(round(s.mean, 12))


def _hover(row: Row) -> str:
    p = row.provenance
    return (f"runs {' '.join(p.stamps)} | code {', '.join(dict.fromkeys(p.fingerprints))} | "
            f"metabnn {', '.join(p.metabnn)} | commit "
            f"{', '.join(c[:12] for c in p.commits)} | torch {', '.join(p.torch)} | avalanche "
            f"{', '.join(p.avalanche)} | {'; '.join(p.devices)} | {', '.join(p.dates)}")


def _details(row: Row, results: dict[str, dict[str, Any]]) -> str:
    p = row.provenance
    items = [
        ("runs (stamp: seed, date)", "<br>".join(
            f"<code>{_e(s)}</code>: seed {seed}, {_e(d)}" + (" (best)" if s == row.best else "")
            for s, seed, d in zip(p.stamps, row.seeds, p.dates))),
        ("group", f"<code>{_e(row.group)}</code> (stamp of the config without its seed)"),
        ("hyperparameters", f"<code>{_e(fmt_hyperparameters(row))}</code>"),
        ("tasks", _e(row.tasks)),
        ("code fingerprint", "<br>".join(f"<code>{_e(f)}</code>"
                                         for f in dict.fromkeys(p.fingerprints))),
        ("metabnn", _e(", ".join(p.metabnn))),
        ("commit", "<br>".join(f"<code>{_e(c)}</code>" for c in p.commits)),
        ("torch", _e(", ".join(p.torch))), ("avalanche-lib", _e(", ".join(p.avalanche))),
        ("device", _e("; ".join(p.devices))), ("forgetting", _e(row.forgetting_definition)),
    ]
    prov = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    return (f'<div class="best"><dl class="prov">{prov}</dl><figure>'
            f"{_best_svg(row, results)}<figcaption>forgetting "
            f"curve of the best run <code>{_e(row.best)}</code></figcaption></figure></div>")


def _curve_title(row: Row, best: dict[str, Any]) -> str:
    return f"{row.strategy} on {row.stream} ({row.scenario}), seed {best['seed']}: {row.best}"


def _best_svg(row: Row, results: dict[str, dict[str, Any]]) -> str:
    best = results[row.best]
    return forgetting_svg(best["curves"], _curve_title(row, best))


def _rows(rows: list[Row], results: dict[str, dict[str, Any]], table_id: str,
          columns: tuple[str, ...]) -> list[str]:
    out = []
    extra = [(EXTRA_COLUMNS[c][1], EXTRA_COLUMNS[c][2]) for c in columns]
    for rank, r in enumerate(rows, start=1):
        rid = f"{table_id}-{rank}"
        few = f' <span class="few-mark" title="fewer than {MIN_SEEDS} seeds">†</span>'
        cells = [
            f'<td class="num" data-v="{rank}">{rank}</td>',
            f'<td><button class="more" aria-expanded="false" aria-controls="{rid}-d" '
            f'title="provenance and forgetting curve">▸</button> {_e(r.name)}</td>',
            f"<td>{_e(r.model)}</td>", f"<td>{_e(r.hardware)}</td>",
            f"<td><code>{_e(fmt_hyperparameters(r))}</code></td>",
            f'<td class="num" data-v="{len(r.seeds)}">{len(r.seeds)}'
            f'{few if r.few_seeds else ""}</td>',
            *(f'<td class="num" data-v="{_num(s)}">{_e(fmt_stat(s, scale))}</td>'
              for s, scale in ((r.accuracy, "pct"), (r.bwt, "pct"), (r.forgetting, "pct"),
                               *((getattr(r, attr), scale) for attr, scale in extra))),
        ]
        out.append(f'<tr class="row{" few" if r.few_seeds else ""}" id="{rid}" '
                   f'data-model="{_e(r.model)}" data-hardware="{_e(r.hardware)}" '
                   f'data-detail="{rid}-d" title="{_e(_hover(r))}">{"".join(cells)}</tr>')
        out.append(f'<tr class="detail" id="{rid}-d" hidden><td colspan="'
                   f'{len(COLUMNS) + len(columns)}">'
                   f"{_details(r, results)}</td></tr>")
    return out


def _missing(c: Coverage) -> str:
    if not c.missing:
        return "—"
    items = "".join(f"<li>{_e(p)}</li>" for p in c.missing)
    return (f"<details><summary>{c.planned - c.recorded} runs of {len(c.missing)} "
            f"configurations</summary><ul>{items}</ul></details>")


def _totals(coverage: list[Coverage]) -> tuple[int, int, float]:
    """Planned runs, recorded runs and their summed run time over every board's sweeps."""
    return (sum(c.planned for c in coverage), sum(c.recorded for c in coverage),
            math.fsum(c.run_time_s for c in coverage))


def _select(name: str, label: str, values: list[str]) -> str:
    options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
    return (f'<label>{label} <select id="f-{name}"><option value="">all</option>{options}'
            "</select></label>")


def html_page(board: Board) -> str:
    """The whole index.html."""
    from metabnn.leaderboard.build import GENERATED

    results = {r["stamp"]: r for r in board.results}
    rows = [r for t in board.tables.values() for r in t.rows]
    parts = ["<!DOCTYPE html>", f"<!-- {GENERATED} -->", '<html lang="en"><head>',
             '<meta charset="utf-8"><meta name="viewport" content="width=device-width">',
             f"<title>{_e(board.title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_e(board.title)}</h1>"]
    parts += [f"<p>{_e(p)}</p>" for p in board.intro.split("\n\n") if p.strip()]
    parts.append(f"<p>Mean ± sample standard deviation over seeds, in percent; ranked by mean "
                 f"final average accuracy. † marks rows with fewer than {MIN_SEEDS} seeds. "
                 "Click a column header to sort, ▸ for a row's provenance and the forgetting "
                 "curve of its best run; hover a row for its provenance in short.</p>")
    per_table = [(t.id, c) for t in board.tables.values() for c in t.coverage]
    if per_table:
        parts.append('<h2>Scope</h2><table class="scope"><thead><tr><th>board</th><th>sweep'
                     "</th><th>planned runs</th><th>recorded</th><th>run time (CPU)</th><th>"
                     "not recorded</th></tr></thead><tbody>")
        parts += [f'<tr><td><a href="#{_e(tid)}">{_e(tid)}</a></td><td><code>{_e(c.sweep)}'
                  f"</code></td><td>{c.planned}</td><td>{c.recorded}</td><td>"
                  f"{fmt_run_time(c.recorded, c.run_time_s)}</td><td>{_missing(c)}</td></tr>"
                  for tid, c in per_table]
        planned, recorded, run_time_s = _totals([c for _, c in per_table])
        parts.append(f"<tr><th>all boards</th><td></td><td>{planned}</td><td>{recorded}</td>"
                     f"<td>{fmt_run_time(recorded, run_time_s)}</td><td></td></tr>")
        parts.append("</tbody></table>")
    elif board.coverage:
        parts.append('<h2>Scope</h2><table class="scope"><thead><tr><th>sweep</th><th>planned '
                     "runs</th><th>recorded</th><th>run time (CPU)</th><th>not recorded</th>"
                     "</tr></thead><tbody>")
        parts += [f"<tr><td><code>{_e(c.sweep)}</code></td><td>{c.planned}</td><td>"
                  f"{c.recorded}</td><td>{fmt_run_time(c.recorded, c.run_time_s)}</td><td>"
                  f"{_missing(c)}</td></tr>"
                  for c in board.coverage]
        parts.append("</tbody></table>")
    parts.append('<div class="filters">'
                 + _select("model", "model", sorted({r.model for r in rows}))
                 + _select("hardware", "hardware", sorted({r.hardware for r in rows}))
                 + f'<label><input type="checkbox" id="f-few"> hide rows with fewer than '
                 f"{MIN_SEEDS} seeds</label></div>")
    for tid, t in board.tables.items():
        parts.append(f'<section id="{_e(tid)}"><h2>{_e(t.title)}</h2>')
        if t.protocol is not None:
            seeds = f"; seeds {', '.join(map(str, t.seeds_planned))}" if t.seeds_planned else ""
            parts.append(f"<p>Protocol: {_e(describe(t.protocol))}{_e(seeds)}.</p>")
        if t.note:
            parts.append(f"<p>{_e(t.note)}</p>")
        if not t.rows:
            parts.append(f"<p>{'No run recorded yet.' if t.coverage else 'No run planned.'}"
                         "</p></section>")
            continue
        top = t.rows[0]
        stream, scenario = top.stream, top.scenario
        heads = "".join(f'<th data-type="{"text" if i in (1, 2, 3, 4) else "num"}">{_e(c)}</th>'
                        for i, c in enumerate(
                            (*COLUMNS, *(EXTRA_COLUMNS[c][0] for c in t.columns))))
        parts += [f'<p>CSV: <a href="{_e(tid)}.csv">{_e(tid)}.csv</a></p>',
                  f'<table class="lb" data-stream="{_e(stream)}" data-scenario="{_e(scenario)}">'
                  f"<thead><tr>{heads}</tr></thead><tbody>",
                  *_rows(t.rows, results, tid, t.columns),
                  "</tbody></table>", '<div class="best">']
        summary = summary_figure(t)
        if summary:
            parts.append(f"<figure>{summary}<figcaption>Final average accuracy against "
                         "forgetting: one mark per row, numbered by rank, ±1 sd over seeds"
                         "</figcaption></figure>")
        elif t.protocol is not None:
            parts.append("<p>No summary figure: no row has a forgetting value (a stream "
                         "without task boundaries is tested once per chunk on one test set, so "
                         "no task is forgotten).</p>")
        parts += [f"<figure>{_best_svg(top, results)}"
                  f"<figcaption>Best entry, {_e(top.name)} ({_e(fmt_hyperparameters(top))})"
                  f": forgetting curve of its best run <code>{_e(top.best)}</code>"
                  "</figcaption></figure></div></section>"]
    parts.append(f'<script type="application/json" id="board-data">{_data(board)}</script>')
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts) + "\n"


def _data(board: Board) -> str:
    """The tables as JSON (for scripts reading the page); ``</`` escaped for the script tag."""
    data = [{"id": tid, "title": t.title, "protocol": t.protocol, "rows": [
        {"strategy": r.strategy, "same_as": list(r.same_as), "stream": r.stream,
         "scenario": r.scenario, "model": r.model, "hardware": r.hardware,
         "seeds": list(r.seeds), "average_accuracy": r.accuracy.mean, "group": r.group,
         "best": r.best} for r in t.rows]}
        for tid, t in board.tables.items()]
    return json.dumps(data, sort_keys=True, separators=(",", ":")).replace("</", "<\\/")


def summary_figure(table: Table) -> str | None:
    """The table's summary figure (:func:`~metabnn.leaderboard.svg.summary_svg`) for a board
    with a stated protocol (``None`` for an older board file, or no row with forgetting)."""
    if table.protocol is None:
        return None
    points = [(rank, r.name, r.forgetting.mean, r.forgetting.std, r.accuracy.mean,
               r.accuracy.std) for rank, r in enumerate(table.rows, start=1)
              if r.forgetting is not None]
    return summary_svg(points, f"{table.title}: final accuracy against forgetting") \
        if points else None
