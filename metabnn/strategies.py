"""The Avalanche strategy that trains with :class:`~metabnn.optim.MetaplasticAdam`.

:class:`MetaplasticStrategy` is Avalanche's ``SupervisedTemplate`` with three changes, each for a
reason:

* the optimizer is built from per-layer param groups (:func:`metaplastic_param_groups`) and, by
  default, re-created at every experience as the paper's reference code does. Avalanche's own
  ``reset_optimizer`` refuses multiple param groups, and otherwise keeps Adam's moments across
  experiences;
* minibatches are index gathers on in-memory tensors (:class:`~metabnn.data.TensorBatchLoader`)
  with the strategy's own seeded generator, instead of a per-sample DataLoader;
* no default evaluator: per-epoch evaluation is :class:`~metabnn.plugins.AccuracyMatrixPlugin`.

Any Avalanche plugin (EWC, SI, LwF, replay...) composes with it: with ``meta = 0`` it is a plain
Adam-trained network, the "naive" baseline of the metaplasticity paper.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from avalanche.core import BasePlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn

from metabnn.data import TensorBatchLoader, dataset_tensors
from metabnn.layers import BinaryLayer
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups

__all__ = ["MetaplasticStrategy"]


class MetaplasticStrategy(SupervisedTemplate):
    """Supervised continual training with MetaplasticAdam (Laborieux et al. 2021).

    :param meta: m for every binary layer, or a mapping layer name -> m.
    :param reset_optimizer: re-create the optimizer (fresh Adam moments) at every experience.
    :param consolidate: which layers' weights are hidden weights under the meta rule; binary
        layers by default (pass a predicate for full-precision metaplasticity).
    :param seed: seeds the strategy's data-order generator.
    :param fast_loader: use tensor index gathers; ``False`` falls back to Avalanche's loaders.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        meta: float | Mapping[str, float] = 0.0,
        lr: float = 0.005,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-7,
        eps_placement: str = "before-bias-correction",
        reset_optimizer: bool = True,
        consolidate: Callable[[nn.Module], bool] | None = None,
        train_mb_size: int = 100,
        train_epochs: int = 1,
        eval_mb_size: int = 1000,
        device: str | torch.device = "cpu",
        plugins: Sequence[BasePlugin] | None = None,
        evaluator: Any = None,
        seed: int = 0,
        fast_loader: bool = True,
        **kwargs: Any,
    ) -> None:
        self.meta = meta
        self.optim_args = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                               eps_placement=eps_placement)
        self.reset_optimizer = reset_optimizer
        self.consolidate = consolidate or (lambda m: isinstance(m, BinaryLayer))
        self.fast_loader = fast_loader
        self.generator = torch.Generator().manual_seed(seed)
        with warnings.catch_warnings():
            # Avalanche warns that an evaluator without loggers logs nothing: that is the point.
            warnings.filterwarnings("ignore", "No loggers specified", UserWarning)
            super().__init__(
                model=model,
                optimizer=self._new_optimizer(model),
                train_mb_size=train_mb_size,
                train_epochs=train_epochs,
                eval_mb_size=eval_mb_size,
                device=device,
                plugins=list(plugins or []),
                evaluator=evaluator,
                **kwargs,
            )

    def _new_optimizer(self, model: nn.Module) -> MetaplasticAdam:
        groups = metaplastic_param_groups(model, self.meta, is_hidden=self.consolidate)
        return MetaplasticAdam(groups, **self.optim_args)

    def make_optimizer(self, reset_optimizer_state: bool = False, **kwargs: Any) -> None:
        """Fresh optimizer per experience (``reset_optimizer``), else keep its state.

        A model whose parameters changed (e.g. a new head) gets new groups; the state of the
        parameters it kept is carried over.
        """
        params = dict(self.model.named_parameters())
        changed = self.optimized_param_id is None or (
            {id(p) for p in params.values()}
            != {id(p) for p in self.optimized_param_id.values()}
        )
        if self.reset_optimizer or changed:
            old_state = {} if self.reset_optimizer else dict(self.optimizer.state)
            self.optimizer = self._new_optimizer(self.model)
            for p, state in old_state.items():
                if any(p is q for q in params.values()):
                    self.optimizer.state[p] = state
        self.optimized_param_id = params

    def make_train_dataloader(self, shuffle: bool = True, **kwargs: Any) -> None:
        if not self.fast_loader:
            return super().make_train_dataloader(shuffle=shuffle, **kwargs)
        tensors = dataset_tensors(self.adapted_dataset, self.device)
        self.dataloader = TensorBatchLoader(
            tensors, self.train_mb_size, shuffle=shuffle, generator=self.generator
        )

    def make_eval_dataloader(self, **kwargs: Any) -> None:
        if not self.fast_loader:
            return super().make_eval_dataloader(**kwargs)
        tensors = dataset_tensors(self.adapted_dataset, self.device)
        self.dataloader = TensorBatchLoader(tensors, self.eval_mb_size, shuffle=False)
