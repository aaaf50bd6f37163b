"""``MetaplasticAdam``: Adam with the metaplastic consolidation of Laborieux et al. (2021).

For every parameter :math:`W` with gradient :math:`g` (weight decay :math:`\\lambda` added to the
gradient, as in the reference code and ``torch.optim.Adam``):

.. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g, \\qquad v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g^2,

    W \\leftarrow W - \\frac{\\eta}{1-\\beta_1^t}\\,
        \\frac{\\phi(W, m_t)}{\\sqrt{v_t}/\\sqrt{1-\\beta_2^t} + \\epsilon}
    \\quad\\text{(after-bias-correction)},

    W \\leftarrow W - \\frac{\\eta\\sqrt{1-\\beta_2^t}}{1-\\beta_1^t}\\,
        \\frac{\\phi(W, m_t)}{\\sqrt{v_t} + \\epsilon}
    \\quad\\text{(before-bias-correction)},

with :math:`\\phi = m_t` for groups whose ``meta`` is 0 and
:math:`\\phi = m_t \\cdot f_{meta}(W; m)` where :math:`\\operatorname{sign}(W) m_t > 0` (the step
shrinks :math:`|W|`), :math:`\\phi = m_t` elsewhere (see :mod:`metabnn.metaplasticity`; the
in-place and fused forms here compute its ``scale_toward_zero_``, and the tests hold them to it).

Where :math:`\\epsilon` enters is ``eps_placement`` (a param-group key). The two forms differ
only in :math:`\\epsilon`: *before-bias-correction* adds it to :math:`\\sqrt{v_t}` and folds
the bias correction into the step size, the efficient form of Kingma & Ba (2015, Sec. 2) and the
form of ``torch.optim.Adam`` in PyTorch 1.1.0, which the authors' ``Adam_meta`` copies (their
code, ``models_utils.py``); *after-bias-correction* adds it to :math:`\\sqrt{\\hat v_t}`,
Kingma & Ba's Algorithm 1 and the current ``torch.optim.Adam``. Early in a task (the state is
reset at every task) and for rarely active inputs, :math:`\\sqrt{v_t}` is small and the two
differ. The default is the authors' form, so that the paper's protocol runs from defaults; with
``meta = 0`` each *is* a named Adam: PyTorch 1.1.0's, or today's ``torch.optim.Adam`` bit for
bit (tested).

The per-layer :math:`m` is the param-group key ``"meta"``. Which parameters are hidden weights
is declared by their layer: :func:`metaplastic_param_groups` puts the weights of binary layers
(:class:`metabnn.layers.BinaryLayer`) in groups carrying ``meta`` and everything else
(biases, BatchNorm) in a group with ``meta = 0``, as the reference code does for 1-d tensors.
Hidden weights are not clipped.

Three implementations of the same step, none of which synchronises with the device (step counts
are Python ints):

* **per parameter, in place** (the default on CPU): about ten in-place ops per parameter with two
  reusable work buffers each (no allocation per step, which is what costs on CPU);
* **multi-tensor** (``foreach=True``, the default when every parameter is on CUDA, as in
  ``torch.optim.Adam``): the same ops as ``torch._foreach_*`` calls over *all* parameters of all
  layers at once, per-layer m, step size and bias correction as scalar lists, so a step is about
  fifteen kernel launches whatever the number of layers; on a GPU, where a 2x4096 step is
  launch-bound, that is what pays;
* **compiled** (``fused=True``): the whole update of a parameter as one ``torch.compile``'d
  kernel (one pass over memory instead of about ten; compiling costs seconds once per process).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from metabnn.layers import BinaryLayer

__all__ = ["MetaplasticAdam", "metaplastic_param_groups", "EPS_PLACEMENTS"]

EPS_PLACEMENTS = ("before-bias-correction", "after-bias-correction")
"""Where Adam's epsilon enters (module docstring): the authors' form first, the default."""


def _step_scalars(group: Mapping[str, Any], t: int) -> tuple[float, float]:
    """``(step size, divisor of sqrt(v))`` of step ``t``: the update is
    ``-step_size * phi / (sqrt(v) / divisor + eps)``. Before the bias correction, the divisor
    is 1 (division by 1.0 is exact) and ``sqrt(1 - beta2^t)`` moves into the step size."""
    beta1, beta2 = group["betas"]
    bc2_sqrt = math.sqrt(1 - beta2**t)
    if group["eps_placement"] == "before-bias-correction":
        return group["lr"] * bc2_sqrt / (1 - beta1**t), 1.0
    return group["lr"] / (1 - beta1**t), bc2_sqrt


class MetaplasticAdam(torch.optim.Optimizer):
    """Adam whose steps toward zero on hidden weights are scaled by ``1 - tanh^2(meta |W|)``.

    Defaults are the paper's protocol (Laborieux et al. 2021, Methods; reference code
    ``main.py``): ``lr = 0.005``, ``betas = (0.9, 0.999)``, ``eps = 1e-8``,
    ``weight_decay = 1e-7``; ``meta = 0`` unless a param group sets it; ``eps_placement``
    ``"before-bias-correction"`` (the authors' Adam) or ``"after-bias-correction"``
    (``torch.optim.Adam``), see the module docstring. ``foreach``: the
    multi-tensor step (``None``: when every parameter is on CUDA); ``fused``: the compiled one
    (module docstring). The multi-tensor step is bitwise the per-parameter one; the compiled
    one equals them up to float rounding (it fuses the arithmetic).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.005,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-7,
        meta: float = 0.0,
        *,
        eps_placement: str = "before-bias-correction",
        foreach: bool | None = None,
        fused: bool = False,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        if meta < 0:
            raise ValueError(f"meta must be >= 0, got {meta}")
        if eps_placement not in EPS_PLACEMENTS:
            raise ValueError(f"eps_placement must be one of {', '.join(EPS_PLACEMENTS)}, got "
                             f"{eps_placement!r}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, meta=meta,
                        eps_placement=eps_placement)
        super().__init__(params, defaults)
        if foreach and fused:
            raise ValueError("foreach and fused are two implementations of one step: pick one")
        self.foreach = foreach
        self.fused = fused
        self._buffers: dict[torch.Tensor, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self._use_foreach():
            self._step_foreach()
            return loss
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self._advance(p)
                step_size, bc2_sqrt = _step_scalars(group, state["step"])
                update = self._update_fused if self.fused else self._update
                update(
                    p, p.grad, state["exp_avg"], state["exp_avg_sq"],
                    step_size=step_size, bc2_sqrt=bc2_sqrt,
                    beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"], meta=group["meta"],
                )
        return loss

    def _advance(self, p: torch.Tensor) -> dict[str, Any]:
        """The state of ``p`` (created on its first step) with its step count advanced."""
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        return state

    def _use_foreach(self) -> bool:
        if self.foreach is not None or self.fused:
            return bool(self.foreach)
        return all(p.is_cuda for group in self.param_groups for p in group["params"])

    def _step_foreach(self) -> None:
        """One step of every parameter as multi-tensor ops, the same arithmetic as
        :meth:`_update`. Parameters are bucketed by the hyperparameters that the ops take as
        one scalar (betas, eps, weight decay; normally one bucket); lr, m and the bias
        corrections differ per parameter and travel as scalar lists."""
        buckets: dict[tuple, list[tuple[torch.Tensor, dict, dict]]] = {}
        for group in self.param_groups:
            key = (*group["betas"], group["eps"], group["weight_decay"])
            for p in group["params"]:
                if p.grad is not None:
                    buckets.setdefault(key, []).append((p, self._advance(p), group))
        for (beta1, beta2, eps, weight_decay), items in buckets.items():
            params = [p for p, _, _ in items]
            exp_avgs = [state["exp_avg"] for _, state, _ in items]
            exp_avg_sqs = [state["exp_avg_sq"] for _, state, _ in items]
            steps = [state["step"] for _, state, _ in items]
            grads = [p.grad for p in params]
            if weight_decay != 0:
                grads = torch._foreach_add(grads, params, alpha=weight_decay)
            torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
            torch._foreach_mul_(exp_avg_sqs, beta2)
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
            num = exp_avgs
            if any(g["meta"] for _, _, g in items):
                # num = m - t * max(t m, 0), t = tanh(|meta| W); meta = 0 gives t = 0, num = m
                tanh = torch._foreach_mul(params, [abs(g["meta"]) for _, _, g in items])
                torch._foreach_tanh_(tanh)
                shrink = torch._foreach_mul(tanh, exp_avgs)
                torch._foreach_clamp_min_(shrink, 0.0)
                torch._foreach_mul_(shrink, tanh)
                num = torch._foreach_sub(exp_avgs, shrink)
            scalars = [_step_scalars(g, t) for (_, _, g), t in zip(items, steps)]
            denom = torch._foreach_sqrt(exp_avg_sqs)
            torch._foreach_div_(denom, [bc2_sqrt for _, bc2_sqrt in scalars])
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, num, denom,
                                    [-step_size for step_size, _ in scalars])

    def _scratch(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Two work buffers per parameter, kept out of the state dict: allocating fresh
        # megabyte-sized temporaries every step costs more than the arithmetic on CPU.
        buffers = self._buffers.get(p)
        if buffers is None or buffers[0].shape != p.shape or buffers[0].device != p.device:
            buffers = (torch.empty_like(p), torch.empty_like(p))
            self._buffers[p] = buffers
        return buffers

    def _update(
        self, p: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor,
        exp_avg_sq: torch.Tensor, *, step_size: float, bc2_sqrt: float, beta1: float,
        beta2: float, eps: float, weight_decay: float, meta: float,
    ) -> None:
        tmp, num = self._scratch(p)
        if weight_decay != 0:
            grad = torch.add(grad, p, alpha=weight_decay, out=num)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        if meta:
            # num = m - t * max(t m, 0) with t = tanh(|meta| W): m scaled by f_meta where the
            # step shrinks |W| (see metaplasticity.scale_toward_zero_, the reference form).
            torch.mul(p, abs(meta), out=tmp).tanh_()
            torch.mul(tmp, exp_avg, out=num).clamp_min_(0.0).mul_(tmp)
            torch.sub(exp_avg, num, out=num)
        else:
            num = exp_avg
        denom = torch.sqrt(exp_avg_sq, out=tmp).div_(bc2_sqrt).add_(eps)
        p.addcdiv_(num, denom, value=-step_size)

    def _update_fused(
        self, p: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor,
        exp_avg_sq: torch.Tensor, *, step_size: float, bc2_sqrt: float, beta1: float,
        beta2: float, eps: float, weight_decay: float, meta: float,
    ) -> None:
        # Step-dependent scalars travel as 0-d tensors so the kernel is compiled once, and the
        # flat views let one dynamic-shape kernel serve every parameter.
        scalars = torch.tensor([step_size, bc2_sqrt], dtype=p.dtype, device=p.device)
        _fused_kernel()(
            p.view(-1), grad.reshape(-1), exp_avg.view(-1), exp_avg_sq.view(-1), scalars,
            beta1, beta2, eps, weight_decay, abs(meta),
        )


def _fused_step(
    p: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor,
    scalars: torch.Tensor, beta1: float, beta2: float, eps: float, weight_decay: float,
    meta: float,
) -> None:
    """The whole update of one (flattened) parameter; compiled into a single loop/kernel."""
    step_size, bc2_sqrt = scalars[0], scalars[1]
    g = grad + weight_decay * p
    exp_avg.lerp_(g, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    num = exp_avg
    if meta != 0:
        t = torch.tanh(p * meta)
        num = exp_avg - t * (t * exp_avg).clamp_min(0.0)
    p.sub_(step_size * num / (exp_avg_sq.sqrt() / bc2_sqrt + eps))


_COMPILED: list[Callable[..., None]] = []


def _fused_kernel() -> Callable[..., None]:
    """``torch.compile`` of :func:`_fused_step`, built on first use (compiling takes seconds)."""
    if not _COMPILED:
        _COMPILED.append(torch.compile(_fused_step, dynamic=True, fullgraph=True))
    return _COMPILED[0]


def metaplastic_param_groups(
    model: nn.Module,
    meta: float | Mapping[str, float],
    *,
    is_hidden: Callable[[nn.Module], bool] = lambda m: isinstance(m, BinaryLayer),
) -> list[dict[str, Any]]:
    """Param groups for :class:`MetaplasticAdam`: one per consolidated layer, one for the rest.

    ``meta`` is one m for every layer, or a mapping from layer name (``model.named_modules()``)
    to m; layers missing from the mapping get m = 0. ``is_hidden`` selects the layers whose
    ``weight`` is consolidated: binary layers by default; pass e.g.
    ``lambda m: isinstance(m, (nn.Linear, nn.Conv2d))`` for metaplasticity on a full-precision
    net (Laborieux et al. 2021, Fig. 2f). Each group carries its layer's name as ``"name"``.
    """
    groups: list[dict[str, Any]] = []
    consolidated: set[int] = set()
    layer_names = set()
    for name, module in model.named_modules():
        if not is_hidden(module) or getattr(module, "weight", None) is None:
            continue
        m = meta if not isinstance(meta, Mapping) else float(meta.get(name, 0.0))
        groups.append({"params": [module.weight], "meta": float(m), "name": name})
        consolidated.add(id(module.weight))
        layer_names.add(name)
    if isinstance(meta, Mapping):
        unknown = sorted(set(meta) - layer_names)
        if unknown:
            raise ValueError(f"meta names unknown layers {unknown}; layers: {sorted(layer_names)}")
    rest = [p for p in model.parameters() if id(p) not in consolidated]
    if rest:
        groups.append({"params": rest, "meta": 0.0, "name": "other"})
    return groups
