"""``cumulative`` and ``joint``: training on all the data seen so far, or on the whole stream.

Avalanche's ``Cumulative`` and ``JointTraining`` on the MetaplasticStrategy with m = 0 (Adam),
with task-pure minibatches and one BatchNorm state for all tasks
(:mod:`baselines.joint_strategies` says why). ``joint`` is trained once on the whole stream
(``trains_on="stream"``): its accuracy matrix has one row; backward transfer and forgetting are
undefined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from baselines.common import ADAM_PARAMS, OPTIMIZER_RESET, strategy_kwargs
from baselines.registry import STRATEGIES
from metabnn.config import RunConfig

__all__ = ["cumulative", "joint"]


def _build(kind, model, config, device, plugins) -> Any:
    from baselines import joint_strategies
    from baselines.shared_bn import SharedBatchNormPlugin

    cls = getattr(joint_strategies, kind)
    strategy = cls(**strategy_kwargs(
        model, config, device=device, plugins=[*plugins, SharedBatchNormPlugin()], meta=0.0))
    strategy.record = {"meta": 0.0, "minibatches": "task-pure",
                       "batchnorm": "one state for all tasks (SharedBatchNormPlugin)"}
    return strategy


@STRATEGIES.register(
    "cumulative",
    description="retrain on all experiences seen so far at every experience (Avalanche)",
    scenarios=("task", "domain"),
    params=dict(ADAM_PARAMS),
    optimizer_reset=OPTIMIZER_RESET,
)
def cumulative(
    model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]
) -> Any:
    return _build("CumulativeStrategy", model, config, device, plugins)


@STRATEGIES.register(
    "joint",
    description="joint (offline) training on the whole stream at once: the upper bound",
    scenarios=("task", "domain"),
    params=dict(ADAM_PARAMS),
    optimizer_reset="one optimizer: a single training phase",
    trains_on="stream",
)
def joint(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    return _build("JointStrategy", model, config, device, plugins)
