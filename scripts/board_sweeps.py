"""Write the leaderboard boards' sweep files: the 2-core CPU size (leaderboards/sweeps/) and the
papers' size for a GPU (leaderboards/gpu/sweeps/), from one list of methods, so both specs plan
the same rows and differ only in the protocol's size.

    python scripts/board_sweeps.py            # rewrite both folders
    python scripts/board_sweeps.py --check    # exit 1 if a committed file differs (a test runs it)

A board's rows: metaplastic Adam at m in {0.5, 1.0, 1.35} and every registered baseline that
applies, binary (bnn) and full-precision (mlp) where the strategy supports both, the Bayesian
rules on their own models; each with its registered defaults (``metabnn list strategies``).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1] / "leaderboards"
SEEDS = [0, 1, 2]
BASELINES = ("naive", "bnn-ewc", "random-consolidation", "ewc", "si", "mas", "lwf", "replay",
             "agem", "gem", "gdumb", "joint", "cumulative")


def _v(name: str, strategy: str, model: str, meta: float = 0.0, **sets: Any) -> dict[str, Any]:
    return {"name": name, "strategy": strategy, "model.name": model, "optim.meta": meta, **sets}


def methods(fp: bool = True, bayes: bool = True) -> list[dict[str, Any]]:
    rows = [_v(f"bnn meta m={m}", "meta", "bnn", m) for m in (0.5, 1.0, 1.35)]
    rows += [_v(f"bnn {s}", s, "bnn") for s in BASELINES] + [_v("bnn bop", "bop", "bnn")]
    if fp:
        rows += [_v(f"mlp meta m={m}", "meta", "mlp", m) for m in (0.5, 1.0, 1.35)]
        rows += [_v(f"mlp {s}", s, "mlp") for s in BASELINES]
    if bayes:
        rows += [_v("gaussian-mlp mesu", "mesu", "gaussian-mlp"),
                 _v("bayes-bnn bimu", "bimu", "bayes-bnn")]
    return rows


def hardware_rows() -> list[dict[str, Any]]:
    # the same two networks with ideal memory first: what the devices cost is read against them
    rows = [_v("ideal memory meta m=1.35", "meta", "bnn", 1.35),
            _v("ideal memory naive", "naive", "bnn")]
    for preset in ("rram-1t1r", "rram-2t2r", "stt-mram"):
        for condition in ("weak", "nominal", "strong"):
            for name, strategy, m in (("meta m=1.35", "meta", 1.35), ("naive", "naive", 0.0)):
                rows.append(_v(f"{preset}/{condition} {name}", strategy, "bnn", m, **{
                    "hardware.name": preset, "hardware.condition": condition}))
    return rows


def boards(gpu: bool) -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    """(file stem, description, base config, variants) of every board at one size."""
    pm = ({"tasks": 6} if gpu else {"tasks": 3, "train_per_task": 10000})
    pm_size = ("6 tasks, all 60,000 training images per task, 40 epochs per task, hidden layers "
               "4096x4096 (the paper's Fig. 2)" if gpu else
               "3 tasks, 10,000 training images per task (of 60,000), 3 epochs per task, hidden "
               "layers 512x512")
    pm_train = {"epochs": 40} if gpu else {"epochs": 3}
    pm_hidden = [4096, 4096] if gpu else [512, 512]
    out = []
    for scenario, what in (("task", "task-incremental (the paper's protocol: task labels, one "
                            "shared head, per-task BatchNorm states)"),
                           ("domain", "domain-incremental (one head, one BatchNorm)")):
        out.append((f"pmnist-{scenario}", f"permuted MNIST, {what}; {pm_size}; all 10,000 test "
                    "images per task.",
                    {"stream": {"name": "pmnist", "scenario": scenario, **pm},
                     "model": {"hidden": pm_hidden}, "train": pm_train}, methods()))
    split_train = {"iterations": 2000, "batch_size": 128} if gpu else {"epochs": 2}
    split_size = ("2,000 iterations of 128 images per task, hidden layers 400x400 (van de Ven & "
                  "Tolias's protocol)" if gpu else
                  "2 epochs per task (~12,000 training images), hidden layers 512x512")
    for ds, title in (("mnist", "MNIST"), ("fmnist", "Fashion-MNIST")):
        for scenario, what in (("task", "Task-IL: a 2-unit head per task chosen by the task "
                                "label, per-task BatchNorm"),
                               ("domain", "Domain-IL: one 2-unit head, one BatchNorm"),
                               ("class", "Class-IL: a head of the classes seen so far, one "
                                "BatchNorm")):
            out.append((f"split-{ds}-{scenario}", f"split {title}, 5 tasks of 2 classes (all "
                        f"training / test images of each), {what}; {split_size}. Binary "
                        "network only (the full-precision rows are on the pmnist boards).",
                        {"stream": {"name": f"split-{ds}", "tasks": 5, "scenario": scenario},
                         "model": {"hidden": [400, 400] if gpu else [512, 512]},
                         "train": split_train}, methods(fp=False, bayes=False)))
    mf_train, mf_hidden = ({"epochs": 50}, [4096, 4096]) if gpu else ({"epochs": 3}, [512, 512])
    out.append(("mnist-fmnist", "MNIST then Fashion-MNIST (the paper's Fig. 1a pair), "
                "task-incremental (per-task BatchNorm), all 60,000 / 10,000 images per task, "
                f"{mf_train['epochs']} epochs per task, hidden layers "
                f"{'x'.join(map(str, mf_hidden))}.",
                {"stream": {"name": "mnist-fmnist", "tasks": 2, "scenario": "task"},
                 "model": {"hidden": mf_hidden}, "train": mf_train},
                [_v(f"bnn meta m={m}", "meta", "bnn", m) for m in (1.0, 1.5)]
                + [_v(f"bnn {s}", s, "bnn") for s in ("naive", "bnn-ewc", "ewc", "si", "lwf",
                                                       "replay", "joint")]))
    chunks, per_chunk, hidden = (60, 20, [1024, 1024]) if gpu else (30, 2, [512, 512])
    out.append(("stream-fmnist", f"stream learning (no task boundaries): Fashion-MNIST in "
                f"{chunks} i.i.d. chunks of {60000 // chunks:,} training images, {per_chunk} "
                "epochs per chunk, tested on all 10,000 test images; hidden layers "
                f"{'x'.join(map(str, hidden))}; Adam kept across chunks (the paper's Fig. 4a"
                f"{'' if gpu else ' protocol, shrunk'}). Rows: m = 2.5 (the paper's), 1.35 and "
                "plain Adam.",
                {"stream": {"name": "stream-fmnist", "chunks": chunks, "scenario": "domain"},
                 "model": {"hidden": hidden}, "train": {"epochs": per_chunk},
                 "optim": {"reset_per_experience": False}},
                [_v(f"bnn meta m={m}", "meta", "bnn", m) for m in (1.35, 2.5)]
                + [_v("bnn naive", "naive", "bnn")]))
    long = ({"tasks": 200, "test_per_task": 1000} if gpu else
            {"tasks": 20, "train_per_task": 5000, "test_per_task": 1000})
    out.append(("pmnist-long", f"a long permuted-MNIST stream, {long['tasks']} tasks of "
                f"{'60,000' if gpu else '5,000'} training images (1,000 test images each), "
                "domain-incremental, one epoch per task, 784-100-10 networks; out of "
                "distribution: Fashion-MNIST's first 1,000 test images against the just-learned "
                "task's. Columns to read: learning accuracy (each task right after it was "
                "learned) and OOD AUROC.",
                {"stream": {"name": "pmnist", "scenario": "domain", "ood": "fmnist", **long},
                 "model": {"hidden": [100]}, "train": {"epochs": 1}},
                [_v("bnn meta m=1.35", "meta", "bnn", 1.35), _v("bnn naive", "naive", "bnn"),
                 _v("mlp ewc", "ewc", "mlp"), _v("gaussian-mlp mesu", "mesu", "gaussian-mlp"),
                 _v("bayes-bnn bimu", "bimu", "bayes-bnn")]))
    hw = ({"tasks": 3}, [1024, 1024], 10) if gpu else ({"tasks": 3, "train_per_task": 10000},
                                                       [256, 256], 3)
    out.append(("hardware", "the metaplastic BNN and its naive twin with their binary weights "
                "in error-prone memory, every RRAM and MRAM preset at its weak, nominal and "
                "strong programming condition (`metabnn list hardware`), and the same two "
                "with ideal memory as the reference; permuted MNIST, 3 "
                f"tasks, task-incremental, {'all 60,000' if gpu else '10,000'} training images "
                f"per task, {hw[2]} epochs, hidden layers {'x'.join(map(str, hw[1]))}. Columns "
                "to read: device energy of training, device writes and the measured BER.",
                {"stream": {"name": "pmnist", "scenario": "task", **hw[0]},
                 "model": {"hidden": hw[1]}, "train": {"epochs": hw[2]}}, hardware_rows()))
    return out


def render(stem: str, description: str, base: dict[str, Any], variants: list[dict[str, Any]],
           gpu: bool) -> str:
    where = "leaderboards/gpu" if gpu else "leaderboards"
    comment = (f"Board {stem} ({'GPU, the papers’ size' if gpu else '2-core CPU size'}): "
               f"{description} Generated by scripts/board_sweeps.py (edit it, not this file). "
               f"Run with `metabnn leaderboard regenerate --board {where}` (every board) or "
               f"alone: `metabnn sweep {where}/sweeps/{stem}.yaml --out runs/leaderboard"
               f"{'-gpu' if gpu else ''}`.")
    lines = textwrap.wrap(comment, 96, break_on_hyphens=False, break_long_words=False)
    body = {"name": f"{stem}{'-gpu' if gpu else ''}", "base": base,
            "grid": {"variant": variants}, "seeds": SEEDS}
    return "".join(f"# {line}\n" for line in lines) + yaml.safe_dump(
        body, sort_keys=False, default_flow_style=None, width=100, allow_unicode=True)


TITLES = {
    "pmnist-task": "Permuted MNIST, task-incremental (the paper's protocol{shrunk})",
    "pmnist-domain": "Permuted MNIST, domain-incremental",
    "split-mnist-task": "Split MNIST, Task-IL (multi-head)",
    "split-mnist-domain": "Split MNIST, Domain-IL",
    "split-mnist-class": "Split MNIST, Class-IL",
    "split-fmnist-task": "Split Fashion-MNIST, Task-IL (multi-head)",
    "split-fmnist-domain": "Split Fashion-MNIST, Domain-IL",
    "split-fmnist-class": "Split Fashion-MNIST, Class-IL",
    "mnist-fmnist": "MNIST, then Fashion-MNIST",
    "stream-fmnist": "Stream learning, Fashion-MNIST (no task boundaries)",
    "pmnist-long": "A long permuted-MNIST stream (learning accuracy and out-of-distribution "
                   "detection)",
    "hardware": "Binary weights in error-prone memory (RRAM, MRAM)",
}
_ONE_BN = ("Joint, cumulative and GDumb train on mixed tasks and keep one BatchNorm state for "
           "all of them (their results files' strategy record says so), so the per-task "
           "BatchNorm of this protocol does not apply to their rows")
NOTES = {
    "pmnist-task": _ONE_BN + "; with the shared head, their runs are the domain-incremental "
                             "board's experiment and give its numbers.",
    "split-mnist-task": _ONE_BN + " (the heads still are one per task).",
    "split-fmnist-task": _ONE_BN + " (the heads still are one per task).",
}
COLUMNS = {  # shown after final accuracy, BWT and forgetting (metabnn.leaderboard.EXTRA_COLUMNS)
    "pmnist-long": ["learning_accuracy", "ood_auroc"],
    "hardware": ["train_device_energy_pj", "device_writes", "measured_ber"],
}

BIOSIGNALS = {"id": "biosignals", "title": "ECG, patient-incremental (with the memory footprint)",
              "note": "A stated gap: the MIT-BIH Arrhythmia Database cannot be downloaded on the "
                      "machine that builds this board (no network), so none of its runs is "
                      "planned here. The recipe `metabnn reproduce biosignals` runs the stream "
                      "where PhysioNet can be reached.",
              "columns": ["memory_kib"]}
INTRO = {
    False: "Continual-learning methods on binarized (and full-precision) networks, one board "
           "per experiment: the protocol under a board's title is what all its rows share, and a "
           "row is one configuration over its seeds (3 planned). Runs that are one experiment "
           "under two names (naive, and metaplastic Adam with m = 0) are one row with both "
           "names.\n\nSized for a 2-core CPU: every board together is planned to take at most "
           "3 hours there (`metabnn leaderboard regenerate --plan` says what is left and, from "
           "the recorded runs, how long it should take); the protocols are shrunk from the "
           "papers' (fewer training images per task, fewer epochs, narrower networks), as each "
           "board says; leaderboards/gpu/ plans the same rows at the papers' size. What was "
           "recorded is counted under Scope; every run's wall time, commit and code fingerprint "
           "are in its results file and under a row's provenance, and every table's runs were "
           "made by one code.",
    True: "The boards of leaderboards/ at the papers' size, for a GPU: the same rows, the "
          "protocols of the papers (permuted MNIST: 6 tasks, 40 epochs, 4096x4096; split MNIST: "
          "van de Ven & Tolias's 2,000 iterations per task; MNIST then Fashion-MNIST: 50 epochs; "
          "stream learning: 60 chunks, 20 epochs each; the long stream: 200 tasks). Many GPU "
          "hours in all: `metabnn leaderboard regenerate --board leaderboards/gpu --device auto "
          "--out runs/leaderboard-gpu` runs what is missing and resumes where it stopped.",
}


def board_yaml(gpu: bool) -> str:
    shrunk = "" if gpu else ", shrunk"
    spec = {"title": "metabnn leaderboards" + (" at the papers' size (GPU)" if gpu else ""),
            "intro": INTRO[gpu],
            "boards": [{"id": stem, "title": TITLES[stem].format(shrunk=shrunk),
                        "sweeps": [f"sweeps/{stem}.yaml"],
                        **({"note": NOTES[stem]} if stem in NOTES else {}),
                        **({"columns": COLUMNS[stem]} if stem in COLUMNS else {})}
                       for stem, *_ in boards(gpu)]
            + [BIOSIGNALS]}
    head = ("# The boards' spec: title, introduction and the boards, each one experiment (one "
            "table)\n# with the sweep files that plan its runs. Generated by "
            "scripts/board_sweeps.py (edit it,\n# not this file). The data are "
            "results/<stamp>.json; the rest is generated by\n# `metabnn leaderboard build` "
            "(`metabnn leaderboard regenerate` runs what is missing first).\n")
    return head + yaml.safe_dump(spec, sort_keys=False, width=100, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--check", action="store_true", help="compare, write nothing")
    check = args.parse_args(argv).check
    stale = []
    for gpu in (False, True):
        folder = ROOT / ("gpu/sweeps" if gpu else "sweeps")
        files = [(folder / f"{stem}.yaml", render(stem, description, base, variants, gpu))
                 for stem, description, base, variants in boards(gpu)]
        files.append((folder.parent / "board.yaml", board_yaml(gpu)))
        for path, text in files:
            if check:
                if not path.exists() or path.read_text() != text:
                    stale.append(str(path))
            else:
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}: run python scripts/board_sweeps.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
