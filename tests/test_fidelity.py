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
