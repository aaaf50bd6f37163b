"""Markdown reports of the fidelity harness (independent and paired modes)."""

from __future__ import annotations

import statistics
from typing import Any

__all__ = ["markdown_independent", "markdown_paired", "fidelity_page"]


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _ms(s: dict[str, Any]) -> str:
    sd = "n/a" if s["sd"] is None else _pct(s["sd"])
    return f"{_pct(s['mean'])} ± {sd}"


def _changes(body: dict[str, Any]) -> list[str]:
    lines = [f"The authors' code: commit `{body['authors_commit']}`; the harness ran a scratch "
             "copy with these changes only:", ""]
    lines += [f"- `{name}{':' + str(line) if line else ''}`: `{before}` → `{after}`"
              for name, line, before, after in body["changes"]]
    fp = body["metabnn"]["fingerprint"]
    lines += ["", f"metabnn: commit `{str(body['metabnn']['git_commit'])[:12]}`, code "
              f"fingerprint `{fp['id']}` (torch {fp['torch']}, {fp['device']}, "
              f"{fp['threads']} threads), Adam epsilon {body['eps_placement']}, sign(0) "
              f"{'= 0' if body.get('sign_zero') == 'zero' else '= +1'} "
              f"(model.sign_zero={body.get('sign_zero', 'plus-one')}; the authors' code: 0).", ""]
    return lines


def markdown_independent(body: dict[str, Any]) -> str:
    """Per arm: the per-seed final rows of both sides, per task mean ± sd (points), Welch's
    95 % interval of metabnn - authors, its p value, and the wall times."""
    lines = ["# Fidelity: metabnn beside the authors' code, seed by seed", ""]
    lines += _changes(body)
    at_once = body.get("workers", 1)
    lines.append(f"Each run is its own process on {body['threads']} threads, "
                 f"{'one at a time' if at_once == 1 else f'{at_once} at a time'}, the "
                 "two sides of a seed next to each other; each side draws its own permutations, "
                 "initial weights and minibatch order from its own seeding. Accuracies in %, "
                 "differences in points; the interval is Welch's t (95 %) of metabnn − authors "
                 "over seeds, and a task **agrees** when it contains 0.")
    if body.get("train_images", 60000) != 60000:
        lines.append("")
        lines.append(f"Both sides train on MNIST's first {body['train_images']:,} training images "
                     "per task (a smaller MNIST written in its own file format, read by both "
                     "sides' loaders unchanged) and test on all 10,000.")
    lines.append("")
    for arm in body["arms"]:
        p = arm["protocol"]
        lines += [f"## {p['label']}", "", "| seed | authors: final row | metabnn: final row "
                  "| authors wall (s) | metabnn wall (s) |", "|---|---|---|---|---|"]
        for a, b in zip(arm["authors"], arm["metabnn"]):
            lines.append(f"| {a['seed']} | {' '.join(map(_pct, a['matrix'][-1]))} | "
                         f"{' '.join(map(_pct, b['matrix'][-1]))} | {a['wall_s']:.0f} | "
                         f"{b['wall_s']:.0f} |")
        lines += ["", "| task | authors | metabnn | difference | 95 % interval | p | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for c in arm["comparison"]:
            lo, hi = c["interval"] or (None, None)
            ci = "—" if lo is None else f"[{100 * lo:+.2f}, {100 * hi:+.2f}]"
            verdict = {True: "agree", False: "**differ**", None: "—"}[c["agree"]]
            pv = "—" if c["p_value"] is None else f"{c['p_value']:.2f}"
            lines.append(f"| {c['task']} | {_ms(c['authors'])} | {_ms(c['metabnn'])} | "
                         f"{100 * c['difference']:+.2f} | {ci} | {pv} | {verdict} |")
        wa = statistics.fmean(r["wall_s"] for r in arm["authors"])
        wb = statistics.fmean(r["wall_s"] for r in arm["metabnn"])
        loop = statistics.fmean(r["train_loop_s"] for r in arm["metabnn"])
        lines += ["", f"Wall time per run (process, same threads, same machine): authors "
                  f"{wa:.0f} s, metabnn {wb:.0f} s ({wb / wa:.2f}x; metabnn's training and "
                  f"evaluation loop alone {loop:.0f} s). The authors' loop also evaluates the "
                  "training set after every epoch and reads images through a per-sample "
                  "DataLoader.", ""]
    return "\n".join(lines)


def markdown_paired(body: dict[str, Any]) -> str:
    """Per arm: the one-step trace, then per epoch the hidden-weight distance, the share of
    differing signs and both accuracy rows."""
    zero = body.get("sign_zero", "plus-one")
    lines = ["# Fidelity, paired: the same weights, permutations and minibatches into both codes"
             + (", metabnn with sign(0) = 0 (`--sign-zero zero`)" if zero == "zero" else
                ", metabnn's defaults"), ""]
    lines += _changes(body)
    lines.append(f"Protocol: permuted MNIST, {body['tasks']} tasks, 784-"
                 f"{'-'.join(map(str, body['hidden']))}-10, "
                 f"{body['train_per_task'] or 60000} training images per task, "
                 f"{body['epochs_per_task']} epochs per task, batch 100, Adam state fresh at "
                 "every task on both sides, accuracies on the full 10k test set of every task "
                 "(one evaluation function for both).")
    lines.append("")
    for arm in body["arms"]:
        lines += [f"## BatchNorm weights {'~ U(0, 1)' if arm['bn_init'] == 'uniform' else '= 1'},"
                  f" m = {arm['meta']:g}, seed {arm['seed']}", "",
                  "One step from identical states, largest difference after each operation:", "",
                  "| operation | max abs difference |", "|---|---|"]
        for t in arm["trace"][:-1]:
            lines.append(f"| {t['operation']} | {t['max_abs_diff']:.3g} |")
        lines += ["", f"First operation whose result differs: **{arm['trace'][-1]['at']}**.", "",
                  "| task | epoch | max abs dW per layer | signs differing per layer (%) | "
                  "metabnn accuracy | authors accuracy |", "|---|---|---|---|---|---|"]
        for r in arm["epochs"]:
            dw = " ".join(f"{d['max_abs_diff']:.1e}" for d in r["layers"])
            signs = " ".join(f"{100 * d['sign_differs']:.3f}" for d in r["layers"])
            lines.append(f"| {r['task']} | {r['epoch']} | {dw} | {signs} | "
                         f"{' '.join(map(_pct, r['metabnn']))} | "
                         f"{' '.join(map(_pct, r['authors']))} |")
        parted = next((r for r in arm["epochs"]
                       if any(d["sign_differs"] > 0 for d in r["layers"])), None)
        lines += ["", "The two trajectories part (a binary weight first differs) after task "
                  f"{parted['task']}, epoch {parted['epoch']}." if parted else
                  "No binary weight differs at any epoch."]
        lines.append("")
    return "\n".join(lines)


def _demote(markdown: str) -> list[str]:
    """A report's lines with every heading one level down (it becomes a section)."""
    return ["#" + line if line.startswith("#") else line for line in markdown.splitlines()]


def fidelity_page(independent: list[dict[str, Any]], paired: list[dict[str, Any]] = ()) -> str:
    """docs/fidelity.md: a summary of every grid's verdicts (metabnn's defaults first), then
    the reports of both modes, rendered from the harness's JSON files (committed beside it)
    and nothing else."""
    from metabnn.benchmarks.fidelity.authors import PINNED

    first = independent[0]
    arms = first["arms"]
    fp = first["metabnn"]["fingerprint"]
    lines = ["<!-- generated by `python -m metabnn.benchmarks.fidelity --page docs/fidelity.md "
             "--from docs/fidelity/*.json` from the harness's results; do not edit, rerun -->",
             "# Fidelity: metabnn's metaplastic BNN beside the authors' code", "",
             "The paper's numbers come from the authors' code "
             "([Laborieux-Axel/SynapticMetaplasticityBNN](https://github.com/Laborieux-Axel/"
             f"SynapticMetaplasticityBNN), commit `{PINNED[:12]}`, written for torch 1.1.0). "
             "The harness `python -m metabnn.benchmarks.fidelity` runs it (a scratch copy with "
             "only the call-form changes a current torch needs, listed below) and metabnn on one "
             "protocol, each side with its own seeding, and tests per task whether the two "
             "sides' mean final accuracies differ (Welch's t, 95 %). Paired runs from identical "
             "weights, permutations and minibatches stay within float rounding of each other "
             "for a while and then part (see the paired sections), so a full run of either code "
             "is one sample of a chaotic process: only seed statistics can say whether the codes "
             "differ.", "",
             "To rerun it: `git clone https://github.com/Laborieux-Axel/"
             "SynapticMetaplasticityBNN ../SynapticMetaplasticityBNN && git -C "
             f"../SynapticMetaplasticityBNN checkout {PINNED[:12]}`, then the calls of the "
             "module docstring of `python -m metabnn.benchmarks.fidelity` (finished runs are "
             "kept, so an interrupted grid resumes, and a grid with another metabnn setting "
             "reuses the authors' runs).", "",
             "metabnn's defaults are BatchNorm weights ~ U(0, 1) (what the paper's torch 1.1.0 "
             "gave the authors' code), Adam's epsilon added before the bias correction (the "
             "authors' `Adam_meta`) and sign(0) = +1 (the authors' `torch.sign` gives 0): the "
             "U(0, 1) arms of the first grid are metabnn's defaults against the authors' code "
             "as the paper ran it; the arms with BatchNorm weights = 1 are what the authors' "
             "code does on a current torch, with metabnn set the same way.", "",
             f"Protocol: {arms[0]['protocol']['label'].split(', m =')[0]}, "
             f"{first['train_images']:,} training images per task, all 10,000 test "
             f"images; seeds {', '.join(map(str, first['seeds']))} on each side; "
             f"{first['threads']} thread(s) per run, {first.get('workers', 1)} "
             f"run(s) at a time; metabnn code fingerprint `{fp['id']}`.", "",
             "## Summary", "",
             "| metabnn sign(0) | BatchNorm weights | m | task | authors | metabnn | "
             "metabnn − authors [95 % CI] | verdict |", "|---|---|---|---|---|---|---|---|"]
    for body in independent:
        zero = "0" if body.get("sign_zero") == "zero" else "+1 (default)"
        for arm in body["arms"]:
            p = arm["protocol"]
            bn = "~ U(0, 1)" if p["bn_init"] == "uniform" else "= 1"
            for c in arm["comparison"]:
                lo, hi = c["interval"] or (None, None)
                ci = "—" if lo is None else f"[{100 * lo:+.2f}, {100 * hi:+.2f}]"
                verdict = {True: "agree", False: "**differ**", None: "—"}[c["agree"]]
                lines.append(f"| {zero} | {bn} | {p['meta']:g} | {c['task']} | "
                             f"{_ms(c['authors'])} | {_ms(c['metabnn'])} | "
                             f"{100 * c['difference']:+.2f} {ci} | {verdict} |")
    lines.append("")
    for body in independent:
        comparisons = [c for arm in body["arms"] for c in arm["comparison"]]
        agree = sum(c["agree"] is True for c in comparisons)
        wa = statistics.fmean(r["wall_s"] for arm in body["arms"] for r in arm["authors"])
        wb = statistics.fmean(r["wall_s"] for arm in body["arms"] for r in arm["metabnn"])
        lines.append(f"- metabnn with sign(0) = "
                     f"{'0' if body.get('sign_zero') == 'zero' else '+1'}: {agree} of "
                     f"{len(comparisons)} task comparisons agree (the 95 % interval of the "
                     f"difference contains 0); at 95 %, about {0.05 * len(comparisons):.1f} "
                     "would differ by chance alone were the codes the same. Wall time per run, "
                     f"both sides on the same threads in the same grid: authors {wa:.0f} s, "
                     f"metabnn {wb:.0f} s ({wb / wa:.2f}x).")
    lines.append("")
    for body in independent:
        lines += _demote(markdown_independent(body))
    for body in paired:
        lines += [""] + _demote(markdown_paired(body))
    return "\n".join(lines).rstrip("\n") + "\n"
