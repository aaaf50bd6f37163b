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
