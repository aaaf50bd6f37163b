"""Paired mode: the authors' model and optimizer next to metabnn's, fed identically.

Both sides start from the same weights (metabnn's seeded init copied into the authors' ``BNN``),
see the same permuted tasks and the same minibatches in the same order, and each trains with its
own code: the authors' ``train`` function and ``Adam_meta`` (imported from the scratch copy of
:mod:`.authors`), metabnn's ``BinaryMLP`` and ``MetaplasticAdam``. After every epoch the report
gives the largest hidden-weight difference and the share of differing weight signs per layer,
and both sides' test accuracy on every task seen (one evaluation function for both, per-task
BatchNorm states restored), so the epoch where the two trajectories part is visible.
:func:`trace_step` compares one step from identical states operation by operation: the forward
pass (each layer's output, each BatchNorm's), the loss, every gradient, Adam's two moments and
the updated weights, naming the first one whose rounding differs.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from metabnn.data import load_mnist_like
from metabnn.evaluation import accuracy
from metabnn.models import BinaryMLP, batchnorm_state, init_weights_, load_batchnorm_state
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups
from metabnn.seeding import generator

__all__ = ["PairedSetup", "build_pair", "run_paired", "trace_step"]


class _Loader(list):
    """Minibatches as the authors' ``train``/``test`` iterate them (with a ``dataset`` size)."""

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]], n: int) -> None:
        super().__init__(batches)
        self.dataset = range(n)


class PairedSetup(SimpleNamespace):
    """The two models, their optimizer factories and the data of one paired run."""


def _authors_modules(folder: Path) -> Any:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module("models_utils")


def build_pair(folder: Path, *, data_root: str, hidden: tuple[int, ...], tasks: int,
               train_per_task: int | None, meta: float, bn_init: str, eps_placement: str,
               seed: int, sign_zero: str = "plus-one") -> PairedSetup:
    """Identical initial weights on both sides, the tasks' data and the optimizer factories
    (``sign_zero``: metabnn's sign(0); the authors' code computes ``zero``)."""
    mu = _authors_modules(folder)
    ours = init_weights_(BinaryMLP(784, hidden, 10, sign_zero=sign_zero), 0.05,
                         generator(seed, "init"), bn_weight=bn_init)
    theirs = mu.BNN([784, *hidden, 10], init="uniform", width=0.1, norm="bn")
    with torch.no_grad():
        for k, (layer, norm) in enumerate(zip(ours.layers, ours.norms)):
            theirs.layers[f"fc{k + 1}"].weight.copy_(layer.weight)
            theirs.layers[f"bn{k + 1}"].weight.copy_(norm.weight)
            theirs.layers[f"bn{k + 1}"].bias.copy_(norm.bias)
    for name, p in theirs.named_parameters():  # as the authors' main.py names them for Adam_meta
        p.newname = "l" + name[9]
    gen = generator(seed, "paired-data")
    x_tr, y_tr = load_mnist_like("MNIST", data_root, True)
    x_te, y_te = load_mnist_like("MNIST", data_root, False)
    x_tr, x_te = x_tr.flatten(1).float().div_(255), x_te.flatten(1).float().div_(255)
    if train_per_task is not None:
        keep = torch.randperm(len(y_tr), generator=gen)[:train_per_task]
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    perms = [torch.randperm(784, generator=gen) for _ in range(tasks)]
    return PairedSetup(
        mu=mu, ours=ours, theirs=theirs, gen=gen, perms=perms,
        train=[(x_tr[:, p].contiguous(), y_tr) for p in perms],
        test=[(x_te[:, p].contiguous(), y_te) for p in perms],
        new_ours=lambda: MetaplasticAdam(metaplastic_param_groups(ours, meta), lr=0.005,
                                         weight_decay=1e-7, eps_placement=eps_placement),
        new_theirs=lambda: mu.Adam_meta(theirs.parameters(), lr=0.005,
                                        meta={f"l{k + 1}": meta for k in range(len(hidden) + 1)},
                                        weight_decay=1e-7),
    )


def _hidden(theirs: nn.Module, k: int) -> torch.Tensor:
    w = theirs.layers[f"fc{k + 1}"].weight
    return getattr(w, "org", w.data)


def _distance(s: PairedSetup) -> list[dict[str, float]]:
    out = []
    for k, layer in enumerate(s.ours.layers):
        a, b = layer.weight.detach(), _hidden(s.theirs, k)
        out.append({"max_abs_diff": float((a - b).abs().max()),
                    "sign_differs": float((torch.sign(a) != torch.sign(b)).float().mean())})
    return out


def run_paired(s: PairedSetup, *, epochs: int, log: Any = print) -> list[dict[str, Any]]:
    """Every task, every epoch, both sides on the same minibatches; one record per epoch."""
    args = SimpleNamespace(ewc=False, si=False)
    records: list[dict[str, Any]] = []
    ours_bn: list[dict[str, torch.Tensor]] = []
    theirs_bn: list[Any] = []
    loss_fn = nn.CrossEntropyLoss()
    for t, (x, y) in enumerate(s.train):
        opt_ours, opt_theirs = s.new_ours(), s.new_theirs()  # fresh at every task, both sides
        for epoch in range(epochs):
            order = torch.randperm(len(y), generator=s.gen)
            batches = [(x[order[i:i + 100]], y[order[i:i + 100]]) for i in range(0, len(y), 100)]
            s.ours.train()
            for xb, yb in batches:
                opt_ours.zero_grad(set_to_none=True)
                loss_fn(s.ours(xb), yb).backward()
                opt_ours.step()
            s.mu.train(s.theirs, _Loader(batches, len(y)), t, opt_theirs, "cpu", args)
            rows = _evaluate(s, t, ours_bn, theirs_bn)
            rec = {"task": t, "epoch": epoch, "layers": _distance(s), "metabnn": rows[0],
                   "authors": rows[1]}
            records.append(rec)
            log(f"task {t} epoch {epoch}: max |dW| "
                + " ".join(f"{d['max_abs_diff']:.2e}" for d in rec["layers"]) + "  signs differ "
                + " ".join(f"{100 * d['sign_differs']:.3f}%" for d in rec["layers"])
                + "  acc metabnn " + " ".join(f"{100 * a:.2f}" for a in rows[0])
                + " | authors " + " ".join(f"{100 * a:.2f}" for a in rows[1]))
        ours_bn.append(batchnorm_state(s.ours))
        theirs_bn.append(s.theirs.save_bn_states())
    return records


@torch.no_grad()
def _evaluate(s: PairedSetup, current: int, ours_bn: list, theirs_bn: list
              ) -> tuple[list[float], list[float]]:
    """Both sides' accuracy on tasks 0..current, each with its per-task BatchNorm state."""
    now_ours, now_theirs = batchnorm_state(s.ours), s.theirs.save_bn_states()
    rows: tuple[list[float], list[float]] = ([], [])
    for j in range(current + 1):
        x, y = s.test[j]
        if j < current:
            load_batchnorm_state(s.ours, ours_bn[j])
            s.theirs.load_bn_states(theirs_bn[j])
        rows[0].append(accuracy(s.ours, x, y, 1000))
        rows[1].append(accuracy(s.theirs, x, y, 1000))
        load_batchnorm_state(s.ours, now_ours)
        s.theirs.load_bn_states(now_theirs)
    return rows


def _outputs(model: nn.Module, kinds: tuple[type, ...]) -> tuple[list[torch.Tensor], list]:
    seen: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: seen.append(o.detach().clone()))
             for m in model.modules() if isinstance(m, kinds)]
    return seen, hooks


def trace_step(s: PairedSetup) -> list[dict[str, Any]]:
    """One training step of both sides from their current (identical) state on the first
    minibatch of task 0: the largest difference after each operation, in order."""
    x, y = s.train[0][0][:100], s.train[0][1][:100]
    opt_ours, opt_theirs = s.new_ours(), s.new_theirs()
    fwd_ours, hooks_a = _outputs(s.ours, (nn.Linear, nn.BatchNorm1d))
    fwd_theirs, hooks_b = _outputs(s.theirs, (nn.Linear, nn.BatchNorm1d))
    loss_fn = nn.CrossEntropyLoss()
    s.ours.train()
    s.theirs.train()
    opt_ours.zero_grad()
    loss_a = loss_fn(s.ours(x), y)
    loss_a.backward()
    opt_theirs.zero_grad()
    loss_b = loss_fn(s.theirs(x), y)
    loss_b.backward()
    for h in hooks_a + hooks_b:
        h.remove()
    trace = []
    names = [f"{'layer' if i % 2 == 0 else 'batchnorm'} {i // 2} output"
             for i in range(len(fwd_ours))]
    for name, a, b in zip(names, fwd_ours, fwd_theirs):
        trace.append({"operation": f"forward: {name}", "max_abs_diff": float((a - b).abs().max())})
    trace.append({"operation": "loss", "max_abs_diff": abs(float(loss_a) - float(loss_b))})
    for k, layer in enumerate(s.ours.layers):
        g_b = s.theirs.layers[f"fc{k + 1}"].weight.grad
        trace.append({"operation": f"gradient of hidden weights {k}",
                      "max_abs_diff": float((layer.weight.grad - g_b).abs().max())})
    for p in s.theirs.parameters():  # the authors' train(): weights = hidden weights for the step
        if hasattr(p, "org"):
            p.data.copy_(p.org)
    opt_ours.step()
    opt_theirs.step()
    for k, layer in enumerate(s.ours.layers):
        w_b = s.theirs.layers[f"fc{k + 1}"].weight
        st_a, st_b = opt_ours.state[layer.weight], opt_theirs.state[w_b]
        for key in ("exp_avg", "exp_avg_sq"):
            trace.append({"operation": f"Adam {key} of hidden weights {k}",
                          "max_abs_diff": float((st_a[key] - st_b[key]).abs().max())})
        trace.append({"operation": f"updated hidden weights {k}",
                      "max_abs_diff": float((layer.weight.detach() - w_b.data).abs().max())})
    for p in s.theirs.parameters():
        if hasattr(p, "org"):
            p.org.copy_(p.data)
    first = next((t["operation"] for t in trace if t["max_abs_diff"] > 0), None)
    return [*trace, {"operation": "first difference", "at": first}]
