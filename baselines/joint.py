"""``cumulative`` and ``joint``: training on all the data seen so far, or on the whole stream.

Avalanche's ``Cumulative`` and ``JointTraining`` on the MetaplasticStrategy with m = 0 (Adam),
with i.i.d. minibatches over all the data they train on (``batching=task-pure`` draws each from
one task) and one BatchNorm state for all tasks (:mod:`metabnn.baselines.joint_strategies` says
why).
``cumulative`` is the "offline" upper bound of van de Ven & Tolias (2019): at every task, the
model continues training on the union of all data so far. ``joint`` is trained once on the whole
stream (``trains_on="stream"``): its accuracy matrix has one row; backward transfer and
forgetting are undefined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from metabnn.baselines.common import ADAM_PARAMS, OPTIMIZER_RESET, strategy_kwargs
from metabnn.baselines.registry import STRATEGIES, hyperparameters
from metabnn.config import RunConfig

__all__ = ["cumulative", "joint"]


def _build(kind, model, config, device, plugins) -> Any:
    from metabnn.baselines import joint_strategies
    from metabnn.baselines.shared_bn import SharedBatchNormPlugin

    cls = getattr(joint_strategies, kind)
    batching = hyperparameters(config)["batching"]
    strategy = cls(batching=batching, **strategy_kwargs(
        model, config, device=device, plugins=[*plugins, SharedBatchNormPlugin()], meta=0.0))
    strategy.record = {"meta": 0.0, "minibatches": batching,
                       "batchnorm": "one state for all tasks (SharedBatchNormPlugin)"}
    return strategy


_PARAMS = {**ADAM_PARAMS, "batching": (
    "iid", "iid: minibatches drawn from all the data trained on (the literature's upper bound, "
    "van de Ven & Tolias 2019); task-pure: each minibatch from one task")}
_CHOICES = {"batching": ("iid", "task-pure")}


@STRATEGIES.register(
    "cumulative",
    description="retrain on all experiences seen so far at every experience (Avalanche)",
    scenarios=("task", "domain", "class"),
    params=_PARAMS,
    choices=_CHOICES,
    optimizer_reset=OPTIMIZER_RESET,
)
def cumulative(
    model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]
) -> Any:
    return _build("CumulativeStrategy", model, config, device, plugins)


@STRATEGIES.register(
    "joint",
    description="joint (offline) training on the whole stream at once: the upper bound",
    scenarios=("task", "domain", "class"),
    params=_PARAMS,
    choices=_CHOICES,
    optimizer_reset="one optimizer: a single training phase",
    trains_on="stream",
)
def joint(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    return _build("JointStrategy", model, config, device, plugins)
