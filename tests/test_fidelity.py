"""The fidelity harness's own logic that needs no checkout of the authors' code: the call-form
rewrites it applies to a scratch copy, and its one-line answer without a checkout."""

from __future__ import annotations

import pytest

from metabnn.benchmarks.fidelity.__main__ import main
from metabnn.benchmarks.fidelity.authors import PINNED, _rewrite_call


@pytest.mark.parametrize(("before", "after"), [
    ("exp_avg.mul_(beta1).add_(1 - beta1, grad)",
     "exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)"),
    ("grad.add_(group['weight_decay'], p.data)",
     "grad.add_(p.data, alpha=group['weight_decay'])"),
    ("exp_avg_sq.mul_(beta2).addcmul_(1 - beta2, grad, grad)",
     "exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)"),
    ("p.data.addcdiv_(-step_size, torch.where(c, d, e), denom)  # note",
     "p.data.addcdiv_(torch.where(c, d, e), denom, value=-step_size)  # note"),
    ("denom = exp_avg_sq.sqrt().add_(group['eps'])",  # already a current call form
     "denom = exp_avg_sq.sqrt().add_(group['eps'])"),
])
def test_only_the_positional_scalar_call_forms_are_rewritten(before, after):
    assert _rewrite_call(before) == after


def test_without_a_checkout_it_says_how_to_get_one_in_one_line(tmp_path, capsys):
    assert main(["--authors", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no checkout of the authors' code" in err
    assert f"checkout {PINNED[:12]}" in err and "git clone" in err


def test_the_grid_is_resumable_and_never_reuses_a_run_of_other_code(tmp_path, capsys):
    """Finished runs are kept one per line; the same grid again runs nothing, a line cut by an
    interruption is redone, and a run keyed by other code is not taken for this code's."""
    from metabnn.benchmarks.fidelity.independent import RunCache, run_jobs

    calls = []

    def job(seed):
        def thunk():
            calls.append(seed)
            return {"matrix": [[0.5 + seed / 100]], "wall_s": 0.0}
        return thunk

    path = tmp_path / "independent.runs.jsonl"
    keys = [RunCache.key(side="metabnn", seed=s, code={"sources": "a"}) for s in range(4)]
    done = run_jobs([(k, job(s)) for s, k in enumerate(keys)], RunCache(path), workers=2,
                    log=lambda line: None)
    assert sorted(calls) == [0, 1, 2, 3] and done[keys[3]]["matrix"] == [[0.53]]
    calls.clear()
    run_jobs([(k, job(s)) for s, k in enumerate(keys)], RunCache(path), workers=2,
             log=lambda line: None)
    assert calls == []  # all done before
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1] + [lines[-1][:20]]) + "\n")  # the last line cut
    redo = RunCache(path)
    assert "is not a finished run" in capsys.readouterr().err
    run_jobs([(k, job(s)) for s, k in enumerate(keys)], redo, workers=1, log=lambda line: None)
    assert len(calls) == 1
    calls.clear()
    other = [RunCache.key(side="metabnn", seed=s, code={"sources": "b"}) for s in range(4)]
    run_jobs([(k, job(s)) for s, k in enumerate(other)], RunCache(path), workers=2,
             log=lambda line: None)
    assert sorted(calls) == [0, 1, 2, 3]  # other code: every run again


def _body(shift: float) -> dict:
    """An independent-mode result of 2 arms x 2 tasks, 5 seeds per side; metabnn's last task
    is ``shift`` higher than the authors' in the second arm."""
    from metabnn.benchmarks.fidelity.independent import Protocol, compare

    arms = []
    for i, bn in enumerate(("ones", "uniform")):
        p = Protocol(tasks=2, meta=1.35, bn_init=bn)
        jitter = [0.001 * k for k in (-2, -1, 0, 1, 2)]
        a = [{"seed": s, "matrix": [[0.9, 0.1], [0.8 + j, 0.9 - j]], "wall_s": 100.0}
             for s, j in enumerate(jitter)]
        b = [{"seed": s, "matrix": [[0.9, 0.1], [0.8 - j, 0.9 + j + shift * i]],
              "wall_s": 25.0, "train_loop_s": 20.0} for s, j in enumerate(jitter)]
        arms.append({"protocol": p.__dict__ | {"label": p.label()}, "authors": a,
                     "metabnn": b, "comparison": compare(a, b)})
    fp = {"id": "f" * 12, "torch": "2", "device": "cpu", "threads": 1}
    return {"mode": "independent", "authors_commit": PINNED, "changes": [], "threads": 1,
            "workers": 2, "eps_placement": "before-bias-correction", "seeds": [0, 1, 2, 3, 4],
            "train_images": 20000, "arms": arms,
            "metabnn": {"git_commit": "0" * 40, "fingerprint": fp}}


def test_the_docs_page_summarizes_every_arm_and_task_from_the_json(tmp_path, capsys):
    import json

    path = tmp_path / "independent.json"
    path.write_text(json.dumps(_body(shift=0.02)))
    assert main(["--page", str(tmp_path / "fidelity.md"), "--from", str(path)]) == 0
    page = (tmp_path / "fidelity.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| +1 (default) |")]
    assert len(rows) == 4  # 2 arms x 2 tasks
    # by hand: the last task of the U(0, 1) arm is 2 points higher on metabnn's side
    assert rows[3].startswith("| +1 (default) | ~ U(0, 1) | 1.35 | 1 | 90.00 ± 0.16 | "
                              "92.00 ± 0.16 | +2.00 [")
    assert rows[3].endswith("| **differ** |") and rows[2].endswith("| agree |")
    assert "3 of 4 task comparisons agree" in page
    assert "authors 100 s, metabnn 25 s (0.25x)" in page
    assert main(["--page", str(tmp_path / "x.md"), "--from", str(tmp_path / "nothing.json")]) == 2
    assert "is not a result of this harness" in capsys.readouterr().err


def test_the_reduced_mnist_keeps_the_first_training_images_and_every_test_image(tmp_path):
    """Written in MNIST's IDX format: a 30-image training set cut to 20, the 10-image test set
    kept whole (more test images than kept training images is fine), 40 refused."""
    import struct

    from metabnn.benchmarks.fidelity.data import reduced_mnist

    raw = tmp_path / "src" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 30), ("t10k", 10)):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, n, 2, 2) + bytes(range(4 * n)))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
    out = reduced_mnist(tmp_path / "src", tmp_path / "out", 20)
    images = (out / "MNIST/raw/train-images-idx3-ubyte").read_bytes()
    assert struct.unpack(">IIII", images[:16]) == (0x803, 20, 2, 2) and images[16:] == bytes(
        range(80))
    test = (out / "MNIST/raw/t10k-labels-idx1-ubyte").read_bytes()
    assert struct.unpack(">II", test[:8]) == (0x801, 10) and len(test) == 18
    with pytest.raises(ValueError, match="--train-images 40: MNIST has 30 training images"):
        reduced_mnist(tmp_path / "src", tmp_path / "out2", 40)


FAKE_MAIN = '''
import argparse, csv, os, time
from datetime import datetime
p = argparse.ArgumentParser()
p.add_argument("--seed", type=int); p.add_argument("--epochs-per-task", type=int)
p.add_argument("--task-sequence", nargs="+"); p.add_argument("--net")
p.add_argument("--hidden-layers", nargs="+"); p.add_argument("--lr"); p.add_argument("--decay")
p.add_argument("--meta")
a = p.parse_args()
path = "results/" + datetime.now().strftime("%H-%M-%S")  # as the authors' code: to the second
os.makedirs(path, exist_ok=True)
time.sleep(1.5)  # both runs alive in the same second
tasks = len(a.task_sequence)
with open(path + "/acc.csv", "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["task_order", "epoch", *[f"acc_test_tsk_{j + 1}" for j in range(tasks)]])
    for t in range(tasks):
        w.writerow([t + 1, a.epochs_per_task, *[a.seed + 10 * t + j for j in range(tasks)]])
'''


def test_concurrent_runs_of_the_authors_code_never_share_a_results_folder(tmp_path):
    """The authors' main.py names its results folder by the start time to the second: two runs
    side by side (--workers 2) must each read their own CSV (a fake main.py that writes as the
    real one does, seed-dependent accuracies)."""
    from metabnn.benchmarks.fidelity.independent import Protocol, RunCache, run_authors, run_jobs

    folder = tmp_path / "authors"
    folder.mkdir()
    (folder / "main.py").write_text(FAKE_MAIN)
    p = Protocol(tasks=2, epochs=1)
    jobs = [(RunCache.key(seed=s), lambda s=s: run_authors(folder, p, s, threads=1))
            for s in (1, 2)]
    done = run_jobs(jobs, RunCache(tmp_path / "cache.jsonl"), workers=2, log=lambda line: None)
    rows = [done[k]["matrix"][-1] for k, _ in jobs]
    assert rows == [[0.11, 0.12], [0.12, 0.13]]  # (seed + 10 t + j) / 100 of the last task
    assert not (folder / "results").exists()  # each ran in its own copy


def test_the_committed_fidelity_page_is_rendered_from_its_committed_results(tmp_path):
    """docs/fidelity.md is the rendering of docs/fidelity/*.json (the harness's own output):
    a hand edit, or results changed without rerendering, fails here."""
    import json
    from pathlib import Path

    from metabnn.benchmarks.fidelity.report import fidelity_page

    docs = Path(__file__).resolve().parents[1] / "docs"
    bodies: dict[str, list] = {}
    for path in sorted((docs / "fidelity").glob("*.json")):
        body = json.loads(path.read_text())
        bodies.setdefault(body["mode"], []).append(body)
    independent = sorted(bodies["independent"], key=lambda b: b.get("sign_zero") == "zero")
    assert independent[0].get("sign_zero", "plus-one") == "plus-one"  # the defaults first
    paired = sorted(bodies.get("paired", []), key=lambda b: b.get("sign_zero") == "zero")
    assert (docs / "fidelity.md").read_text() == fidelity_page(independent, paired)
