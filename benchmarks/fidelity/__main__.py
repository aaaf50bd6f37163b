"""``python -m metabnn.benchmarks.fidelity``: metabnn's metaplastic BNN next to the authors' code.

Independent mode (default): for every BatchNorm init, every m and every seed, the authors'
training and metabnn's on one protocol, each its own process on the same threads (``--workers``
at a time; resumable: finished runs are kept and skipped); prints each
side's per-seed final accuracy matrix, per-task mean ± sd, a two-sample test per task, and the
wall time of both. Paired mode (``--paired``): identical initial weights, permutations and
minibatch order fed to both codes; per epoch the largest hidden-weight difference, the share of
differing signs and both accuracy rows, plus a one-step trace of where rounding first differs.

Needs a checkout of the authors' code (``--authors PATH``; without one it says how to get it in
one line). Writes ``<out>/<name>.json`` and ``<out>/<name>.md``. Not part of the tests: it is
the measurement behind ``docs/fidelity.md``.

    python -m metabnn.benchmarks.fidelity --authors ../SynapticMetaplasticityBNN \\
        --seeds 0 1 2 3 4 --metas 0 1.35 --bn-init ones uniform --data-root ../shared/data \\
        --train-images 20000 --workers 2 --threads 1
    python -m metabnn.benchmarks.fidelity --authors ../SynapticMetaplasticityBNN --paired \\
        --hidden 256 256 --tasks 2 --train-per-task 3000 --epochs 3 --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from metabnn.benchmarks.fidelity.authors import PINNED, MissingCheckout, prepare
from metabnn.benchmarks.fidelity.report import markdown_independent, markdown_paired


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m metabnn.benchmarks.fidelity",
                                description=__doc__.split("\n")[0])
    p.add_argument("--authors", default=None, metavar="PATH",
                   help=f"checkout of Laborieux-Axel/SynapticMetaplasticityBNN (commit "
                   f"{PINNED[:12]})")
    p.add_argument("--data-root", default="../shared/data", help="MNIST in torchvision's layout")
    p.add_argument("--tasks", type=int, default=3)
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 512])
    p.add_argument("--epochs", type=int, default=3, help="epochs per task")
    p.add_argument("--metas", type=float, nargs="+", default=[0.0, 1.35])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--bn-init", nargs="+", default=["ones", "uniform"],
                   choices=["ones", "uniform"], help="BatchNorm weights at init, both sides")
    p.add_argument("--eps-placement", default="before-bias-correction",
                   choices=["before-bias-correction", "after-bias-correction"],
                   help="metabnn's Adam epsilon (the authors': before)")
    p.add_argument("--sign-zero", default="plus-one", choices=["plus-one", "zero"],
                   help="metabnn's sign(0) (model.sign_zero; the authors' code: zero; "
                   "metabnn's default: plus-one)")
    p.add_argument("--threads", type=int, default=None, help="torch threads of every run "
                   "(default: the usable CPUs shared among --workers)")
    p.add_argument("--workers", type=int, default=1,
                   help="independent mode: runs at a time, each on --threads threads (default: "
                   "1; the two sides of a seed run next to each other, so both see the same "
                   "load). Finished runs are kept in <out>/independent.runs.jsonl: the same "
                   "command again skips them")
    p.add_argument("--sides", nargs="+", default=["authors", "metabnn"],
                   choices=["authors", "metabnn"],
                   help="independent mode: run only these sides' runs (default: both); e.g. "
                   "the authors' runs alone while metabnn's code is being changed: they are "
                   "kept, and a later run of both sides reuses them. The report needs both")
    p.add_argument("--paired", action="store_true", help="paired mode (module docstring)")
    p.add_argument("--train-per-task", type=int, default=None,
                   help="paired mode: training images per task (default: all 60,000)")
    p.add_argument("--train-images", type=int, default=None,
                   help="independent mode: both sides train on MNIST's first N training images "
                   "(written as a smaller MNIST that both read; default: all 60,000)")
    p.add_argument("--out", type=Path, default=Path("runs/fidelity"))
    p.add_argument("--name", default=None, help="output file stem (default: from the mode)")
    p.add_argument("--page", type=Path, default=None, metavar="MD",
                   help="run nothing: render the docs page MD from the JSON files of --from "
                   "(an independent-mode file, and optionally a paired one)")
    p.add_argument("--from", dest="sources", type=Path, nargs="+", default=[], metavar="JSON",
                   help="with --page: the harness's JSON results to render")
    return p


def _independent(args: argparse.Namespace, folder: Path, changes: list, commit: str
                 ) -> dict[str, Any]:
    from metabnn.benchmarks.fidelity.independent import (
        Protocol,
        RunCache,
        compare,
        run_authors,
        run_jobs,
        run_ours,
    )
    from metabnn.fingerprint import code_fingerprint
    from metabnn.threads import usable_cpus

    workers = max(1, args.workers)
    threads = args.threads or max(1, usable_cpus() // workers)
    code = code_fingerprint()
    # the code, not where its data links point (a scratch folder of this invocation)
    authors_code = {"commit": commit, "changes": [c for c in changes if not str(
        c[0]).endswith("_pytorch")]}
    ours_code = {k: code[k] for k in ("sources", "torch", "avalanche-lib", "numpy")} | {
        "eps_placement": args.eps_placement, "sign_zero": args.sign_zero}
    # one cache for every independent grid in --out: its keys name all a run depends on, so a
    # grid under another --name or --sign-zero reuses the authors' runs it shares
    cache = RunCache(args.out / "independent.runs.jsonl")
    protocols = [Protocol(tasks=args.tasks, hidden=tuple(args.hidden), epochs=args.epochs,
                          meta=meta, bn_init=bn_init)
                 for bn_init in args.bn_init for meta in args.metas]
    jobs, keys = [], {}
    runs = Path(tempfile.mkdtemp(prefix="metabnn-fidelity-runs-"))
    for p in protocols:
        for seed in args.seeds:  # the two sides of a seed next to each other: load hits both
            common = dict(protocol=p.__dict__, seed=seed, threads=threads,
                          train_images=args.train_images or 60000)
            ka = RunCache.key(side="authors", code=authors_code, **common)
            ko = RunCache.key(side="metabnn", code=ours_code, **common)
            if "authors" in args.sides:
                jobs.append((ka, lambda p=p, seed=seed: run_authors(folder, p, seed,
                                                                    threads=threads)))
            if "metabnn" in args.sides:
                jobs.append((ko, lambda p=p, seed=seed: run_ours(
                    p, seed, data_root=args.data_root, out=runs / f"{p.bn_init}-{p.meta:g}",
                    threads=threads, eps_placement=args.eps_placement,
                    sign_zero=args.sign_zero)))
            keys[(p, seed)] = (ka, ko)
    done = run_jobs(jobs, cache, workers=workers, log=lambda line: print(line, flush=True))
    if len(args.sides) < 2:
        print(f"ran the {args.sides[0]} side only (kept in {cache.path}); run both sides for the "
              "comparison", flush=True)
        return {}
    arms = []
    for p in protocols:
        authors = [done[keys[(p, seed)][0]] for seed in args.seeds]
        ours = [done[keys[(p, seed)][1]] for seed in args.seeds]
        arms.append({"protocol": p.__dict__ | {"label": p.label()}, "authors": authors,
                     "metabnn": ours, "comparison": compare(authors, ours)})
    return {"mode": "independent", "authors_commit": commit, "changes": changes,
            "threads": threads, "workers": workers, "eps_placement": args.eps_placement,
            "sign_zero": args.sign_zero,
            "seeds": args.seeds, "train_images": args.train_images or 60000, "arms": arms}


def _paired(args: argparse.Namespace, folder: Path, changes: list, commit: str
            ) -> dict[str, Any]:
    from metabnn.benchmarks.fidelity.paired import build_pair, run_paired, trace_step

    arms = []
    for bn_init in args.bn_init:
        for meta in args.metas:
            for seed in args.seeds:
                print(f"== paired: BatchNorm {bn_init}, m = {meta:g}, seed {seed}", flush=True)
                kw = dict(data_root=args.data_root, hidden=tuple(args.hidden), tasks=args.tasks,
                          train_per_task=args.train_per_task, meta=meta, bn_init=bn_init,
                          eps_placement=args.eps_placement, sign_zero=args.sign_zero, seed=seed)
                trace = trace_step(build_pair(folder, **kw))
                start = time.perf_counter()
                records = run_paired(build_pair(folder, **kw), epochs=args.epochs)
                arms.append({"bn_init": bn_init, "meta": meta, "seed": seed, "trace": trace,
                             "epochs": records, "wall_s": time.perf_counter() - start})
    return {"mode": "paired", "authors_commit": commit, "changes": changes,
            "eps_placement": args.eps_placement, "sign_zero": args.sign_zero,
            "tasks": args.tasks, "hidden": args.hidden,
            "train_per_task": args.train_per_task, "epochs_per_task": args.epochs,
            "arms": arms}


def _page(page: Path, sources: list[Path]) -> int:
    from metabnn.benchmarks.fidelity.report import fidelity_page

    bodies: dict[str, list[dict[str, Any]]] = {}
    for path in sources:
        try:
            body = json.loads(Path(path).read_text())
            bodies.setdefault(body["mode"], []).append(body)
        except (OSError, ValueError, KeyError, TypeError) as err:
            print(f"fidelity: {path} is not a result of this harness ({err}): pass the "
                  "<out>/independent.json (and paired.json) it wrote", file=sys.stderr)
            return 2
    if "independent" not in bodies:
        print("fidelity: --page needs an independent-mode result among --from", file=sys.stderr)
        return 2
    page.parent.mkdir(parents=True, exist_ok=True)
    independent = sorted(bodies["independent"], key=lambda b: b.get("sign_zero") == "zero")
    paired = sorted(bodies.get("paired", []), key=lambda b: b.get("sign_zero") == "zero")
    page.write_text(fidelity_page(independent, paired))
    print(f"wrote {page}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.page is not None:  # rendering needs no checkout
        return _page(args.page, args.sources)
    if args.authors is None:
        parser.error("--authors PATH is required (a checkout of the authors' code)")
    from metabnn.fingerprint import code_fingerprint
    from metabnn.results import git_commit

    scratch = Path(tempfile.mkdtemp(prefix="metabnn-fidelity-"))
    if args.train_images is not None and not args.paired:
        from metabnn.benchmarks.fidelity.data import reduced_mnist

        args.data_root = str(reduced_mnist(args.data_root, scratch / "data", args.train_images))
    try:
        folder, changes, commit = prepare(args.authors, scratch, args.data_root)
    except MissingCheckout as err:
        print(f"fidelity: {err}", file=sys.stderr)
        return 2
    print(f"the authors' code: commit {commit} (pinned {PINNED[:12]}), scratch copy {folder}")
    print("changes applied to the scratch copy (call forms, data, the BatchNorm-init switch):")
    for name, line, before, after in changes:
        print(f"  {name}:{line}: {before}  ->  {after}")
    body = (_paired if args.paired else _independent)(args, folder, changes, commit)
    if not body:
        return 0
    body["metabnn"] = {"git_commit": git_commit(), "fingerprint": code_fingerprint()}
    name = args.name or ("paired" if args.paired else "independent")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
    text = (markdown_paired if args.paired else markdown_independent)(body)
    (args.out / f"{name}.md").write_text(text)
    print(text)
    print(f"wrote {args.out / name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
