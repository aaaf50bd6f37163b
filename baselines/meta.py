"""``meta`` and ``naive``: the metaplastic network of Laborieux et al. (2021) and its m = 0 twin.

On the binary MLP, ``meta`` scales the Adam steps that move a hidden weight toward zero by
:math:`f_{meta} = 1 - \\tanh^2(m |W_h|)`; on the full-precision MLP the same rule acts on the real
weights of its ``nn.Linear`` layers (paper Fig. 2f). ``naive`` is the same strategy with m = 0:
plain Adam (the plain BNN on ``--model bnn``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from metabnn.baselines.common import ADAM_PARAMS, OPTIMIZER_RESET, strategy_kwargs
from metabnn.baselines.registry import STRATEGIES
from metabnn.config import RunConfig
from metabnn.layers import BinaryLayer

__all__ = ["metaplastic", "naive"]


@STRATEGIES.register(
    "meta",
    description="MetaplasticAdam: steps toward zero scaled by 1 - tanh^2(m|W|) "
    "(BNN: hidden weights; MLP: real weights, Fig. 2f)",
    scenarios=("task", "domain", "class"),
    params={"optim.meta": (1.35, "Laborieux et al. 2021, Fig. 2d"), **ADAM_PARAMS},
    optimizer_reset=OPTIMIZER_RESET,
)
def metaplastic(
    model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]
) -> Any:
    from metabnn.strategies import MetaplasticStrategy

    strategy = MetaplasticStrategy(**strategy_kwargs(model, config, device=device,
                                                     plugins=plugins))
    binary = any(isinstance(m, BinaryLayer) for m in model.modules())
    strategy.record = {
        "meta": config.optim.meta,
        "consolidated": "hidden weights of the binary layers" if binary
        else "real weights of the Linear/Conv layers (full-precision metaplasticity, Fig. 2f)",
    }
    return strategy


@STRATEGIES.register(
    "naive",
    description="plain Adam fine-tuning, task after task (meta with m = 0; ignores optim.meta)",
    scenarios=("task", "domain", "class"),
    params=dict(ADAM_PARAMS),
    optimizer_reset=OPTIMIZER_RESET,
)
def naive(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from metabnn.strategies import MetaplasticStrategy

    strategy = MetaplasticStrategy(**strategy_kwargs(model, config, device=device,
                                                     plugins=plugins, meta=0.0))
    strategy.record = {"meta": 0.0}
    return strategy
