"""The MetaplasticStrategy trained by :class:`~metabnn.baselines.bop.Bop` instead of
MetaplasticAdam."""

from __future__ import annotations

from typing import Any

from torch import nn

from metabnn.baselines.bop import Bop, bop_param_groups
from metabnn.strategies import MetaplasticStrategy

__all__ = ["BopStrategy"]


class BopStrategy(MetaplasticStrategy):
    """Same protocol (loader, per-experience optimizer reset, plugins), Bop as the optimizer.

    :param gamma: Bop's adaptivity rate; :param threshold: Bop's flip threshold.
    """

    def __init__(self, *, gamma: float, threshold: float, **kwargs: Any) -> None:
        self.bop_args = dict(gamma=gamma, threshold=threshold)
        super().__init__(**kwargs)

    def _new_optimizer(self, model: nn.Module) -> Bop:
        return Bop(bop_param_groups(model), **self.bop_args, **self.optim_args)
