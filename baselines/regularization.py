"""SI, MAS and LwF: Avalanche's plugins on the MetaplasticStrategy (m = 0, i.e. Adam).

* ``si`` — Synaptic Intelligence (Zenke et al. 2017), Avalanche's ``SynapticIntelligencePlugin``
  with its CPU aliasing bug fixed (:mod:`metabnn.baselines.si_plugin`). It skips BatchNorm, so on
  the BNN
  it acts on exactly the hidden weights; the path integral follows the hidden-weight trajectory.
  Avalanche clips each importance at 0.001 (from the Caffe implementation of Maltoni & Lomonaco
  2019), which saturates nearly every importance and reduces SI to a weak uniform L2 pull; the
  default here is Zenke et al.'s unclipped importance, and ``si_clip`` restores the clip.
* ``mas`` — Memory Aware Synapses (Aljundi et al. 2018), Avalanche's ``MASPlugin``.
* ``lwf`` — Learning without Forgetting (Li & Hoiem 2017), Avalanche's ``LwFPlugin``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from metabnn.baselines.common import ADAM_PARAMS, OPTIMIZER_RESET, strategy_kwargs
from metabnn.baselines.registry import STRATEGIES, hyperparameters
from metabnn.config import ConfigError, RunConfig

__all__ = ["si", "mas", "lwf"]

_CLB = "continual-learning-baselines, permuted MNIST"


def _with_plugin(model, config, device, plugins, plugin, **record) -> Any:
    from metabnn.strategies import MetaplasticStrategy

    strategy = MetaplasticStrategy(**strategy_kwargs(
        model, config, device=device, plugins=[*plugins, plugin], meta=0.0))
    strategy.record = {"meta": 0.0, **record}
    return strategy


def _check_clip(clip: Any) -> None:
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float))):
        raise ConfigError(f"--param si_clip={clip!r} is invalid: expected a number")


@STRATEGIES.register(
    "si",
    description="Synaptic Intelligence (Avalanche plugin) on the hidden weights (BN excluded)",
    scenarios=("task", "domain", "class"),
    params={
        "si_lambda": (0.2, "Zenke et al. 2017, permuted MNIST c = 0.1; Avalanche's penalty "
                      "is lambda/2"),
        "si_eps": (0.1, "Zenke et al. 2017, permuted MNIST damping xi"),
        "si_clip": (None, "Zenke et al. 2017: none (Avalanche clips at 0.001)"),
        **ADAM_PARAMS,
    },
    optimizer_reset=OPTIMIZER_RESET,
    check=lambda config: _check_clip(hyperparameters(config)["si_clip"]),
)
def si(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from metabnn.baselines.si_plugin import CopyingSIPlugin

    hp = hyperparameters(config)
    clip = hp["si_clip"]
    plugin = CopyingSIPlugin(hp["si_lambda"], eps=hp["si_eps"],
                             clip_to=float("inf") if clip is None else float(clip))
    return _with_plugin(model, config, device, plugins, plugin,
                        protected="all parameters except BatchNorm")


@STRATEGIES.register(
    "mas",
    description="Memory Aware Synapses (Avalanche plugin)",
    scenarios=("task", "domain", "class"),
    params={
        "lambda_reg": (1.0, "Avalanche MASPlugin default"),
        "alpha": (0.5, "Avalanche MASPlugin default"),
        **ADAM_PARAMS,
    },
    optimizer_reset=OPTIMIZER_RESET,
)
def mas(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from avalanche.training.plugins import MASPlugin

    hp = hyperparameters(config)
    plugin = MASPlugin(lambda_reg=hp["lambda_reg"], alpha=hp["alpha"])
    return _with_plugin(model, config, device, plugins, plugin)


@STRATEGIES.register(
    "lwf",
    description="Learning without Forgetting: distillation from the previous model (Avalanche)",
    scenarios=("task", "domain", "class"),
    params={
        "alpha": (1.0, _CLB + "; weighting avalanche only"),
        "temperature": (1.0, _CLB),
        "weighting": ("avalanche", "avalanche: CE + alpha KD (heads summed); tasks-seen: "
                      "CE/N + (1 - 1/N) T^2 KD (heads averaged), van de Ven & Tolias 2019"),
        **ADAM_PARAMS,
    },
    choices={"weighting": ("avalanche", "tasks-seen")},
    optimizer_reset=OPTIMIZER_RESET,
)
def lwf(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from avalanche.training.plugins import LwFPlugin

    from metabnn.baselines.lwf_plugin import TasksSeenLwFPlugin

    hp = hyperparameters(config)
    if hp["weighting"] == "tasks-seen":
        plugin = TasksSeenLwFPlugin(temperature=hp["temperature"])
    else:
        plugin = LwFPlugin(alpha=hp["alpha"], temperature=hp["temperature"])
    return _with_plugin(model, config, device, plugins, plugin)
