"""Rehearsal baselines: experience replay, A-GEM, GEM and GDumb, Avalanche's plugins on the
MetaplasticStrategy with m = 0 (Adam).

* ``replay`` — ``ReplayPlugin``: each minibatch is ``batch_size`` current examples plus as many
  from an experience-balanced buffer of ``mem_size`` examples.
* ``agem`` — Chaudhry et al. 2019; ``gem`` — Lopez-Paz & Ranzato 2017 (needs ``quadprog``).
  Their reference gradients are taken with the current BatchNorm state.
* ``gdumb`` — Prabhu et al. 2020: a class-balanced buffer, and a model retrained from its initial
  weights on the buffer at every experience. The GDumb model is one network for all tasks, so it
  is tested with its own BatchNorm state
  (:class:`~metabnn.baselines.shared_bn.SharedBatchNormPlugin`)
  rather than snapshots taken from networks it discarded.

Buffers draw from the global generators, which the runner seeds from the run's seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from metabnn.baselines.common import ADAM_PARAMS, OPTIMIZER_RESET, strategy_kwargs
from metabnn.baselines.registry import STRATEGIES, hyperparameters
from metabnn.config import RunConfig

__all__ = ["replay", "agem", "gem", "gdumb"]

_CLB = "continual-learning-baselines, permuted MNIST"


def _with_plugins(model, config, device, plugins, *extra) -> Any:
    from metabnn.strategies import MetaplasticStrategy

    strategy = MetaplasticStrategy(**strategy_kwargs(
        model, config, device=device, plugins=[*plugins, *extra], meta=0.0))
    strategy.record = {"meta": 0.0}
    return strategy


@STRATEGIES.register(
    "replay",
    description="experience replay: minibatches mixed with an experience-balanced buffer",
    scenarios=("task", "domain", "class"),
    params={"mem_size": (200, "Avalanche ReplayPlugin default"), **ADAM_PARAMS},
    optimizer_reset=OPTIMIZER_RESET,
)
def replay(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from avalanche.training.plugins import ReplayPlugin

    plugin = ReplayPlugin(mem_size=hyperparameters(config)["mem_size"])
    return _with_plugins(model, config, device, plugins, plugin)


@STRATEGIES.register(
    "agem",
    description="A-GEM: project the gradient when it conflicts with a memory gradient",
    scenarios=("task", "domain", "class"),
    params={
        "patterns_per_exp": (250, _CLB),
        "sample_size": (256, _CLB),
        **ADAM_PARAMS,
    },
    optimizer_reset=OPTIMIZER_RESET,
)
def agem(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from avalanche.training.plugins import AGEMPlugin

    hp = hyperparameters(config)
    plugin = AGEMPlugin(patterns_per_experience=hp["patterns_per_exp"],
                        sample_size=hp["sample_size"])
    return _with_plugins(model, config, device, plugins, plugin)


@STRATEGIES.register(
    "gem",
    description="GEM: quadratic-program projection against each old task's memory gradient",
    scenarios=("task", "domain", "class"),
    params={
        "patterns_per_exp": (256, "chosen here for CPU time (continual-learning-baselines: 1000)"),
        "memory_strength": (0.5, _CLB),
        **ADAM_PARAMS,
    },
    optimizer_reset=OPTIMIZER_RESET,
)
def gem(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from avalanche.training.plugins import GEMPlugin

    hp = hyperparameters(config)
    plugin = GEMPlugin(patterns_per_experience=hp["patterns_per_exp"],
                       memory_strength=hp["memory_strength"])
    return _with_plugins(model, config, device, plugins, plugin)


@STRATEGIES.register(
    "gdumb",
    description="GDumb: retrain from the initial weights on a class-balanced buffer",
    scenarios=("task", "domain", "class"),
    params={"mem_size": (200, "Avalanche GDumbPlugin default"), **ADAM_PARAMS},
    optimizer_reset="a new model, hence a new optimizer, at every experience",
)
def gdumb(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from avalanche.training.plugins import GDumbPlugin

    from metabnn.baselines.shared_bn import SharedBatchNormPlugin

    plugin = GDumbPlugin(mem_size=hyperparameters(config)["mem_size"])
    strategy = _with_plugins(model, config, device, plugins, plugin, SharedBatchNormPlugin())
    strategy.record["batchnorm"] = "one state for all tasks (SharedBatchNormPlugin)"
    return strategy
