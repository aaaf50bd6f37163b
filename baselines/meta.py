"""``meta``: the metaplastic BNN of Laborieux et al. (2021); ``meta = 0`` is the plain BNN."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from baselines.registry import STRATEGIES
from metabnn.config import RunConfig
from metabnn.seeding import derived_seed

__all__ = ["metaplastic"]


@STRATEGIES.register(
    "meta",
    description="MetaplasticAdam: steps toward zero scaled by 1 - tanh^2(m|W_h|)",
    scenarios=("task", "domain", "class"),
    params={
        "optim.meta": (1.35, "Laborieux et al. 2021, Fig. 2d"),
        "optim.lr": (0.005, "Laborieux et al. 2021, Methods"),
        "optim.weight_decay": (1e-7, "reference code"),
    },
    optimizer_reset="per experience (optim.reset_per_experience)",
)
def metaplastic(
    model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]
) -> Any:
    from metabnn.strategies import MetaplasticStrategy

    o, t = config.optim, config.train
    return MetaplasticStrategy(
        model=model,
        meta=o.meta,
        lr=o.lr,
        betas=o.betas,
        eps=o.eps,
        weight_decay=o.weight_decay,
        reset_optimizer=o.reset_per_experience,
        train_mb_size=t.batch_size,
        train_epochs=t.epochs,
        eval_mb_size=t.eval_batch_size,
        device=device,
        plugins=plugins,
        seed=derived_seed(config.seed, "order"),
    )
