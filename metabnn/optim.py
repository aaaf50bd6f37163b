"""``MetaplasticAdam``: Adam with the metaplastic consolidation of Laborieux et al. (2021).

For every parameter :math:`W` with gradient :math:`g` (weight decay :math:`\\lambda` added to the
gradient, as in the reference code and ``torch.optim.Adam``):

.. math::
    m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g, \\qquad v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g^2,

    W \\leftarrow W - \\frac{\\eta}{1-\\beta_1^t}\\,
        \\frac{\\phi(W, m_t)}{\\sqrt{v_t}/\\sqrt{1-\\beta_2^t} + \\epsilon},

with :math:`\\phi = m_t` for groups whose ``meta`` is 0 and
:math:`\\phi = m_t \\cdot f_{meta}(W; m)` where :math:`\\operatorname{sign}(W) m_t > 0` (the step
shrinks :math:`|W|`), :math:`\\phi = m_t` elsewhere (see :mod:`metabnn.metaplasticity`).
Moments and bias correction are exactly ``torch.optim.Adam``'s, so ``meta = 0`` *is* Adam.

The per-layer :math:`m` is the param-group key ``"meta"``. Which parameters are hidden weights
is declared by their layer: :func:`metaplastic_param_groups` puts the weights of binary layers
(:class:`metabnn.layers.BinaryLayer`) in groups carrying ``meta`` and everything else
(biases, BatchNorm) in a group with ``meta = 0``, as the reference code does for 1-d tensors.
Hidden weights are not clipped.

The update runs as ``torch._foreach_*`` ops over each group (one kernel per op on CUDA, no host
synchronisation: step counts are Python ints).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from metabnn.layers import BinaryLayer
from metabnn.metaplasticity import scale_toward_zero_

__all__ = ["MetaplasticAdam", "metaplastic_param_groups"]


class MetaplasticAdam(torch.optim.Optimizer):
    """Adam whose steps toward zero on hidden weights are scaled by ``1 - tanh^2(meta |W|)``.

    Defaults are the paper's protocol (Laborieux et al. 2021, Methods; reference code
    ``main.py``): ``lr = 0.005``, ``betas = (0.9, 0.999)``, ``eps = 1e-8``,
    ``weight_decay = 1e-7``; ``meta = 0`` unless a param group sets it.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.005,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-7,
        meta: float = 0.0,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        if meta < 0:
            raise ValueError(f"meta must be >= 0, got {meta}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, meta=meta)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._update_group(group, params)
        return loss

    def _update_group(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        beta1, beta2 = group["betas"]
        lr, eps, wd, meta = group["lr"], group["eps"], group["weight_decay"], group["meta"]
        grads = [p.grad for p in params]
        if wd != 0:
            grads = torch._foreach_add(grads, params, alpha=wd)
        exp_avgs, exp_avg_sqs, step_sizes, bc2_sqrts = [], [], [], []
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] += 1
            t = state["step"]
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            step_sizes.append(-lr / (1 - beta1**t))
            bc2_sqrts.append(math.sqrt(1 - beta2**t))
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        denoms = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denoms, bc2_sqrts)
        torch._foreach_add_(denoms, eps)
        numerators = (
            [scale_toward_zero_(a, p, meta) for a, p in zip(exp_avgs, params)] if meta else exp_avgs
        )
        torch._foreach_addcdiv_(params, numerators, denoms, step_sizes)


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
