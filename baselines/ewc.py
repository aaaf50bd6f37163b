"""EWC (Kirkpatrick et al. 2017) on BNNs and full-precision nets, and random consolidation.

Three registered strategies over one plugin, :class:`~metabnn.baselines.ewc_plugin.FisherEWCPlugin`
(Avalanche's ``EWCPlugin`` with a choice of Fisher estimator and of the weights it protects):

* ``ewc`` — Avalanche's EWC as it comes: minibatch Fisher on every parameter, ``separate`` or
  ``online`` mode;
* ``bnn-ewc`` — the comparator of Laborieux et al. (2021): per-sample empirical Fisher on the
  hidden weights only, lambda = 5000;
* ``random-consolidation`` — ``bnn-ewc`` with each layer's Fisher values shuffled across its
  weights (seeded): same amount of consolidation, placed at random.

The penalty is Avalanche's, :math:`\\lambda \\sum_{t} \\sum_k F^{(t)}_k (W_k - W^{(t)}_k)^2`
(no factor 1/2; ``online`` keeps one decayed Fisher and the last anchor).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from metabnn.baselines.common import (
    ADAM_PARAMS,
    OPTIMIZER_RESET,
    hidden_weight_names,
    strategy_kwargs,
)
from metabnn.baselines.fisher import ESTIMATORS
from metabnn.baselines.registry import STRATEGIES, hyperparameters
from metabnn.config import ConfigError, RunConfig
from metabnn.seeding import generator

__all__ = ["ewc", "bnn_ewc", "random_consolidation"]


def _ewc_strategy(model, config, device, plugins, *, names, shuffle_seed=None):
    from metabnn.baselines.ewc_plugin import FisherEWCPlugin
    from metabnn.strategies import MetaplasticStrategy

    hp = hyperparameters(config)
    shuffle = None if shuffle_seed is None else generator(config.seed, shuffle_seed)
    plugin = FisherEWCPlugin(
        hp["ewc_lambda"], mode=hp["mode"], decay_factor=hp["decay_factor"],
        fisher=hp["fisher"], names=names, max_samples=hp["fisher_samples"] or None,
        shuffle=shuffle,
    )
    strategy = MetaplasticStrategy(**strategy_kwargs(
        model, config, device=device, plugins=[*plugins, plugin], meta=0.0))
    strategy.record = {
        "meta": 0.0,
        "fisher_estimator": hp["fisher"],
        "protected": "all parameters" if names is None else list(names),
        "fisher_shuffled_within_layers": shuffle is not None,
    }
    return strategy


_EWC_COMMON = {
    "mode": ("separate", "Avalanche EWCPlugin default"),
    "decay_factor": (0.9, "online mode only; chosen here"),
    "fisher_samples": (0, "per-sample estimator: first N training images, 0 = all; chosen here"),
}
_EWC_CHOICES = {"mode": ("separate", "online"), "fisher": ESTIMATORS}


def _samples(config: RunConfig) -> None:
    n = hyperparameters(config)["fisher_samples"]
    if n < 0:
        raise ConfigError(f"--param fisher_samples={n} is invalid: must be >= 0")


@STRATEGIES.register(
    "ewc",
    description="EWC, Avalanche's EWCPlugin: minibatch Fisher on all parameters",
    scenarios=("task", "domain", "class"),
    params={
        "ewc_lambda": (5e5, "paper's 5000 x batch 100: minibatch Fisher ~ per-sample / B"),
        "fisher": ("minibatch", "Avalanche EWCPlugin"),
        **_EWC_COMMON,
        **ADAM_PARAMS,
    },
    choices=_EWC_CHOICES,
    optimizer_reset=OPTIMIZER_RESET,
    check=_samples,
)
def ewc(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    return _ewc_strategy(model, config, device, plugins, names=None)


@STRATEGIES.register(
    "bnn-ewc",
    description="EWC on hidden weights with per-sample Fisher (Laborieux et al. 2021 comparator)",
    scenarios=("task", "domain", "class"),
    params={
        "ewc_lambda": (5000.0, "Laborieux et al. 2021, Fig. 2 (EWC comparator)"),
        "fisher": ("per-sample", "Laborieux et al. 2021: empirical Fisher"),
        **_EWC_COMMON,
        **ADAM_PARAMS,
    },
    choices=_EWC_CHOICES,
    optimizer_reset=OPTIMIZER_RESET,
    check=_samples,
)
def bnn_ewc(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    return _ewc_strategy(model, config, device, plugins, names=hidden_weight_names(model))


@STRATEGIES.register(
    "random-consolidation",
    description="bnn-ewc with each layer's Fisher values shuffled across its weights (seeded)",
    scenarios=("task", "domain", "class"),
    params={
        "ewc_lambda": (5000.0, "as bnn-ewc"),
        "fisher": ("per-sample", "as bnn-ewc"),
        **_EWC_COMMON,
        **ADAM_PARAMS,
    },
    choices=_EWC_CHOICES,
    optimizer_reset=OPTIMIZER_RESET,
    check=_samples,
)
def random_consolidation(
    model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]
) -> Any:
    return _ewc_strategy(model, config, device, plugins, names=hidden_weight_names(model),
                         shuffle_seed="fisher-shuffle")
