"""``bop``: the Binary Optimizer of Helwegen et al. (2019), "Latent weights do not exist:
rethinking binarized neural network optimization" (NeurIPS 2019).

Bop keeps no hidden weight: the binary weights :math:`w \\in \\{-1, +1\\}` themselves are the
parameters, with an exponential moving average of their gradient,

.. math::  m_t = (1-\\gamma)\\, m_{t-1} + \\gamma\\, g_t, \\qquad
           w \\leftarrow -w \\ \\text{ where } |m_t| > \\tau \\text{ and }
           \\operatorname{sign}(m_t) = \\operatorname{sign}(w).

Defaults :math:`\\gamma = 10^{-4}`, :math:`\\tau = 10^{-8}` are those of the paper's CIFAR-10
experiments (Helwegen et al. 2019, Sec. 5; larq's ``Bop`` defaults). Parameters that are not
binary (BatchNorm) are trained by Adam, as in the paper: :class:`Bop` hands the groups whose
``"bop"`` key is false to an inner ``torch.optim.Adam``. The binary layers read their ``+-1``
weights through the identity-STE sign, which is the identity on ``+-1``, so the gradient Bop
sees is the gradient of the binary weight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from metabnn.baselines.common import OPTIMIZER_RESET
from metabnn.baselines.registry import STRATEGIES, hyperparameters
from metabnn.config import ConfigError, RunConfig
from metabnn.layers import BinaryLayer
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups
from metabnn.quantizers import binarize

__all__ = ["Bop", "bop_param_groups", "binarize_weights_"]


class Bop(torch.optim.Optimizer):
    """Bop on param groups with ``"bop": True`` (the default); Adam on the others
    (:class:`~metabnn.optim.MetaplasticAdam` with m = 0, in the run's epsilon form, so the
    BatchNorm parameters train as under every other strategy).

    :param gamma: adaptivity rate of the gradient average :math:`\\gamma`.
    :param threshold: flip threshold :math:`\\tau`.
    :param lr, betas, eps, weight_decay, eps_placement: Adam's, for the groups with
        ``"bop": False``.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        gamma: float = 1e-4,
        threshold: float = 1e-8,
        lr: float = 0.005,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-7,
        eps_placement: str = "before-bias-correction",
    ) -> None:
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
        if threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        defaults = dict(gamma=gamma, threshold=threshold, bop=True)
        super().__init__(params, defaults)
        latent = [g for g in self.param_groups if not g["bop"]]
        self.adam = MetaplasticAdam(
            [{"params": g["params"]} for g in latent], lr=lr, betas=betas, eps=eps,
            weight_decay=weight_decay, eps_placement=eps_placement,
        ) if latent else None

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if not group["bop"]:
                continue
            gamma, tau = group["gamma"], group["threshold"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "grad_avg" not in state:
                    state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                m = state["grad_avg"]
                m.lerp_(p.grad, gamma)  # m = (1 - gamma) m + gamma g
                flip = (m.abs() > tau) & (torch.sign(m) == torch.sign(p))
                p.copy_(torch.where(flip, -p, p))
        if self.adam is not None:
            self.adam.step()
        return loss


def bop_param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """One Bop group per binary layer's weight; BatchNorm and the rest in an Adam group."""
    groups = metaplastic_param_groups(model, 0.0)
    for group in groups:
        group["bop"] = group["name"] != "other"
    return groups


@torch.no_grad()
def binarize_weights_(model: nn.Module) -> nn.Module:
    """Replace the weight of every binary layer by its sign (+-1): Bop has no hidden weight."""
    for module in model.modules():
        if isinstance(module, BinaryLayer):
            module.weight.copy_(binarize(module.weight))
    return model


def _check(hp: dict[str, Any]) -> None:
    if not 0 < hp["gamma"] <= 1:
        raise ConfigError(f"--param gamma={hp['gamma']} is invalid: must lie in (0, 1]")
    if hp["threshold"] < 0:
        raise ConfigError(f"--param threshold={hp['threshold']} is invalid: must be >= 0")


@STRATEGIES.register(
    "bop",
    description="Bop (Helwegen et al. 2019): flip +-1 weights when the gradient EMA agrees; "
    "no hidden weight",
    scenarios=("task", "domain", "class"),
    models=("bnn",),
    params={
        "gamma": (1e-4, "Helwegen et al. 2019, Sec. 5 (CIFAR-10); larq Bop default"),
        "threshold": (1e-8, "Helwegen et al. 2019, Sec. 5 (CIFAR-10); larq Bop default"),
        "optim.lr": (0.005, "Adam on BatchNorm parameters; Laborieux et al. 2021"),
        "optim.reset_per_experience": (True, "Laborieux et al. 2021, reference code"),
    },
    optimizer_reset=OPTIMIZER_RESET + " (Bop's gradient average included)",
    check=lambda config: _check(hyperparameters(config)),
)
def bop(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from metabnn.baselines.bop_strategy import BopStrategy
    from metabnn.baselines.common import strategy_kwargs

    hp = hyperparameters(config)
    kwargs = strategy_kwargs(binarize_weights_(model), config, device=device, plugins=plugins,
                             meta=0.0)
    strategy = BopStrategy(gamma=hp["gamma"], threshold=hp["threshold"], **kwargs)
    strategy.record = {"meta": 0.0, "binary_weights": "+-1, no hidden weight"}
    return strategy
