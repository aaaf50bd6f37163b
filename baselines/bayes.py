"""``mesu`` and ``bimu``: the Bayesian successors of the 2021 metaplastic rule.

Both train a network whose weights are distributions (:mod:`metabnn.bayes`) with a rule that
needs no task boundaries (:mod:`metabnn.bayes_optim`): a memory window of N optimizer steps,
and a step size set by each weight's uncertainty. Minibatch loss
:math:`-\\sum_{batch} \\frac1S \\sum_s \\log \\mathrm{softmax}_y f(x; \\omega_s)` (summed over the
batch, as the papers' code: N counts optimizer steps); predictions average ``test_samples``
weight samples.

Defaults are the papers' permuted-MNIST settings (their code's configs), made at batch size 1:
with minibatches of B images one step sees B images, so N (in steps) covers N x B images; the
recipes set N for their own batch size and say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from metabnn.baselines.common import strategy_kwargs
from metabnn.baselines.registry import STRATEGIES
from metabnn.config import ConfigError, RunConfig
from metabnn.seeding import derived_seed

__all__ = ["mesu", "bimu"]

_MESU = "Bonnet et al., Nat. Commun. 2025 (arXiv 2504.13569), permuted-MNIST config"
_BIMU = "Cottart et al., ICML 2026 (arXiv 2605.30198), permuted-MNIST 1000-task config"
_NO_ADAM = "not used: the rule is its own optimizer (optim.* are ignored)"


def _check_head(config: RunConfig) -> None:
    if config.stream.head == "multi":
        raise ConfigError(f"stream.head='multi' is invalid for strategy {config.strategy!r}: "
                          "its samples average log-softmax over one shared output (use shared)")
    params = config.params
    for key in ("N", "train_samples", "test_samples"):
        if key in params and not params[key] > 0:
            raise ConfigError(f"--param {key}={params[key]!r} is invalid for strategy "
                              f"{config.strategy!r}: must be > 0")


def _bayes_strategy(model: nn.Module, config: RunConfig, device: Any,
                    plugins: Sequence[Any], make_optimizer: Any, hp: dict[str, Any]) -> Any:
    from metabnn.strategies import MetaplasticStrategy

    class BayesianStrategy(MetaplasticStrategy):
        """MetaplasticStrategy's loop with a Bayesian rule: never reset (no boundaries)."""

        def _new_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
            return make_optimizer(model)

    model.train_samples, model.test_samples = hp["train_samples"], hp["test_samples"]
    model.seed_noise(derived_seed(config.seed, "weight-noise"))
    kwargs = strategy_kwargs(model, config, device=device, plugins=plugins, meta=0.0)
    kwargs.update(reset_optimizer=False, criterion=nn.NLLLoss(reduction="sum"))
    return BayesianStrategy(**kwargs)


_BAYES_INFO = dict(
    scenarios=("task", "domain", "class"),
    check=_check_head,
    adam=False,
    multi_head=False,
    optimizer_reset="none: one optimizer for the whole stream (the rule has no task boundaries)",
)
"""What the two Bayesian rules share in their registration: every scenario, one shared head,
their own optimizer (no Adam, no reset at task boundaries)."""


@STRATEGIES.register(
    "mesu",
    description="MESU: Gaussian weights, step sigma^2 x gradient, forgetting toward the prior "
    "over a window of N steps; no task boundaries (Bonnet et al. 2025)",
    models=("gaussian-mlp",),
    params={
        "N": (300_000.0, f"{_MESU}: 5 tasks x 60,000 steps of batch 1"),
        "sigma_prior": (1.0, _MESU), "mu_prior": (0.0, _MESU),
        "lr_mu": (1.0, _MESU), "lr_sigma": (1.0, _MESU),
        "clamp_grad": (0.1, "steps of at most 0.1 sigma (g clipped to +-c/sigma; 0 = off, the "
                       "paper's setting at batch size 1: a minibatch step, one big step where "
                       "the paper took many small ones, diverges unclipped)"),
        "train_samples": (10, _MESU), "test_samples": (10, _MESU),
    },
    **_BAYES_INFO,
)
def mesu(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from metabnn.baselines.registry import hyperparameters
    from metabnn.bayes import GaussianLinear
    from metabnn.bayes_optim import MESU

    hp = hyperparameters(config)

    def make(m: nn.Module) -> MESU:
        pairs = [(layer.mu, layer.sigma) for layer in m.modules()
                 if isinstance(layer, GaussianLinear)]
        return MESU(pairs, n=hp["N"], sigma_prior=hp["sigma_prior"], mu_prior=hp["mu_prior"],
                    lr_mu=hp["lr_mu"], lr_sigma=hp["lr_sigma"], clamp_grad=hp["clamp_grad"])

    strategy = _bayes_strategy(model, config, device, plugins, make, hp)
    strategy.record = {"meta": 0.0, "rule": "MESU (Bonnet et al. 2025)",
                       "loss": "sum over the batch of the sample-mean log-softmax NLL"}
    return strategy


@STRATEGIES.register(
    "bimu",
    description="BiMU: binary Bayesian weights (Bernoulli), bounded-memory update with an "
    "uncertainty-dependent step; no task boundaries (Cottart et al. 2026)",
    models=("bayes-bnn",),
    params={
        "N": (700.0, _BIMU), "lr": (4.9, _BIMU), "lr_max": (0.0023, _BIMU),
        "likelihood": (161.3, _BIMU), "kl": (3.76, _BIMU), "tau": (1.0, _BIMU),
        "train_samples": (5, _BIMU), "test_samples": (5, _BIMU),
    },
    **_BAYES_INFO,
)
def bimu(model: nn.Module, config: RunConfig, *, device: Any, plugins: Sequence[Any]) -> Any:
    from metabnn.baselines.registry import hyperparameters
    from metabnn.bayes import BernoulliLinear
    from metabnn.bayes_optim import BiMU

    hp = hyperparameters(config)
    for layer in model.modules():
        if isinstance(layer, BernoulliLinear):
            layer.tau = hp["tau"]

    def make(m: nn.Module) -> BiMU:
        lams = [layer.lam for layer in m.modules() if isinstance(layer, BernoulliLinear)]
        return BiMU(lams, n=hp["N"], lr=hp["lr"], lr_max=hp["lr_max"],
                    likelihood=hp["likelihood"], kl=hp["kl"])

    strategy = _bayes_strategy(model, config, device, plugins, make, hp)
    strategy.record = {"meta": 0.0, "rule": "BiMU (Cottart et al. 2026)",
                       "loss": "sum over the batch of the sample-mean log-softmax NLL"}
    return strategy
