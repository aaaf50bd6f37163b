"""``l2-anchor``: fine-tuning pulled toward the previous task's weights by an L2 penalty."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from avalanche.core import SupervisedPlugin
from torch import nn

from metabnn.baselines import STRATEGIES, hyperparameters
from metabnn.baselines.common import ADAM_PARAMS, OPTIMIZER_RESET, strategy_kwargs
from metabnn.config import RunConfig


class L2AnchorPlugin(SupervisedPlugin):
    """Adds ``lambda * sum((theta - theta_prev)^2)`` to the loss after the first task."""

    def __init__(self, l2_lambda: float) -> None:
        super().__init__()
        self.l2_lambda = l2_lambda
        self.anchor: dict[str, torch.Tensor] = {}

    def before_backward(self, strategy: Any, **kwargs: Any) -> None:
        if self.anchor:
            penalty = sum(((p - self.anchor[n]) ** 2).sum()
                          for n, p in strategy.model.named_parameters() if n in self.anchor)
            strategy.loss = strategy.loss + self.l2_lambda * penalty

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        self.anchor = {n: p.detach().clone() for n, p in strategy.model.named_parameters()}


@STRATEGIES.register(
    "l2-anchor", description="fine-tuning with an L2 pull toward the previous task's weights "
    "(an example extension)",
    scenarios=("task", "domain", "class"),
    params={"l2_lambda": (1.0, "Kirkpatrick et al. 2017, the L2 comparator; chosen here"),
            **ADAM_PARAMS},
    optimizer_reset=OPTIMIZER_RESET,
)
def l2_anchor(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]
              ) -> Any:
    from metabnn.strategies import MetaplasticStrategy

    plugin = L2AnchorPlugin(hyperparameters(config)["l2_lambda"])
    strategy = MetaplasticStrategy(**strategy_kwargs(
        model, config, device=device, plugins=[*plugins, plugin], meta=0.0))
    strategy.record = {"meta": 0.0}
    return strategy
