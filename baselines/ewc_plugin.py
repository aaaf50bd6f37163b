"""Avalanche's ``EWCPlugin`` with a named Fisher estimator and a choice of protected weights.

Used by the ``ewc``, ``bnn-ewc`` and ``random-consolidation`` strategies
(:mod:`metabnn.baselines.ewc`);
the estimators are in :mod:`metabnn.baselines.fisher`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from avalanche.training.plugins import EWCPlugin
from avalanche.training.utils import ParamData
from torch import nn

from metabnn.baselines.fisher import ESTIMATORS, per_sample_fisher, shuffle_within_layers
from metabnn.data import dataset_tensors

__all__ = ["FisherEWCPlugin"]


class FisherEWCPlugin(EWCPlugin):
    """Avalanche's ``EWCPlugin`` with a named Fisher estimator and a choice of weights.

    Why a subclass: Avalanche's ``compute_importances`` only offers the squared minibatch
    gradient, on every parameter (BatchNorm included). This one adds the per-sample estimator of
    :mod:`metabnn.baselines.fisher`, restricts importances and anchors to ``names`` (the penalty
    then
    covers only those weights), and optionally shuffles each layer's Fisher values.

    :param fisher: ``"minibatch"`` (Avalanche's), ``"per-sample"`` or ``"predicted"``.
    :param names: parameter names to protect; all parameters when None.
    :param max_samples: per-sample estimator: use the first N training examples (all if None).
    :param shuffle: a generator: permute each layer's Fisher values (random consolidation).
    """

    def __init__(
        self,
        ewc_lambda: float,
        mode: str = "separate",
        decay_factor: float | None = None,
        *,
        fisher: str = "minibatch",
        names: Sequence[str] | None = None,
        max_samples: int | None = None,
        shuffle: torch.Generator | None = None,
    ) -> None:
        if fisher not in ESTIMATORS:
            raise ValueError(f"fisher={fisher!r} is invalid: expected one of {ESTIMATORS}")
        super().__init__(ewc_lambda, mode=mode,
                         decay_factor=decay_factor if mode == "online" else None)
        self.fisher = fisher
        self.names = None if names is None else list(names)
        self.max_samples = max_samples
        self.shuffle = shuffle

    def compute_importances(
        self, model, criterion, optimizer, dataset, device, batch_size, num_workers=0
    ) -> dict[str, ParamData]:
        if self.fisher == "minibatch":
            imps = dict(super().compute_importances(
                model, criterion, optimizer, dataset, device, batch_size, num_workers))
            values = {n: p.data for n, p in imps.items()}
        else:
            x, y, t = dataset_tensors(dataset, device)
            layers = dict(model.named_modules())
            names = self.names or [f"{n}.weight" for n, m in layers.items()
                                   if isinstance(m, nn.Linear)]
            wanted = {n.rsplit(".", 1)[0]: layers[n.rsplit(".", 1)[0]] for n in names}
            was_training = model.training
            model.eval()  # as Avalanche's estimator
            try:
                values = per_sample_fisher(model, wanted, x, y, batch_size=batch_size,
                                           max_samples=self.max_samples, task_labels=t,
                                           predicted=self.fisher == "predicted")
            finally:
                model.train(was_training)
        if self.names is not None:
            values = {n: values[n] for n in self.names}
        else:  # the per-sample estimators cover linear layers; the rest get no penalty
            values = {n: values.get(n, torch.zeros_like(p)) for n, p in model.named_parameters()}
        if self.shuffle is not None:
            values = shuffle_within_layers(values, self.shuffle)
        return {n: ParamData(f"imp_{n}", v.shape, init_tensor=v, device=v.device)
                for n, v in values.items()}

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        super().after_training_exp(strategy, **kwargs)
        t = strategy.clock.train_exp_counter
        if self.names is not None:
            saved = self.saved_params[t]
            self.saved_params[t] = {n: saved[n] for n in self.names}

    def penalty(self, model: nn.Module, exp_counter: int) -> torch.Tensor:
        """The EWC penalty (times lambda) that ``before_backward`` adds at ``exp_counter``."""
        from types import SimpleNamespace

        probe = SimpleNamespace(
            clock=SimpleNamespace(train_exp_counter=exp_counter), model=model,
            device=next(model.parameters()).device, loss=torch.zeros(()),
        )
        self.before_backward(probe)
        return probe.loss
