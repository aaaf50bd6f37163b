"""The strategies behind ``cumulative`` and ``joint`` (registered in
:mod:`metabnn.baselines.joint`).

Avalanche's ``Cumulative`` and ``JointTraining`` composed with the MetaplasticStrategy (m = 0),
with two additions, in :class:`_AllSeenData`:

* **the minibatches.** ``batching="iid"`` (the default, the upper bound of the literature)
  draws every minibatch uniformly from all the data trained on, tasks mixed.
  ``batching="task-pure"`` draws each minibatch from one task (shuffled within the task, batch
  order shuffled across tasks, seeded): with batch-statistics BatchNorm a test batch holds one
  task and is normalised with that task's statistics, and task-pure minibatches train under the
  same normalisation;
* **tensors for the concatenation.** The concatenated dataset carries the concatenated tensors
  of its parts, so the fast loader gathers from memory.

Both keep one BatchNorm state for all tasks
(:class:`~metabnn.baselines.shared_bn.SharedBatchNormPlugin`).
``joint`` is trained once on the whole stream (``trains_on="stream"``): its accuracy matrix has a
single row, and backward transfer and forgetting are undefined.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from avalanche.training.supervised import Cumulative, JointTraining
from torch import nn

from metabnn.data import TensorBatchLoader, attach_tensors, dataset_tensors
from metabnn.strategies import MetaplasticStrategy

__all__ = ["TaskPureBatchLoader", "CumulativeStrategy", "JointStrategy", "BATCHING"]


class TaskPureBatchLoader:
    """Minibatches ``[x, y, t]`` that each hold examples of a single task label ``t``."""

    def __init__(
        self, tensors: tuple[torch.Tensor, ...], batch_size: int, generator: torch.Generator
    ) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.generator = generator
        labels = tensors[2].cpu()
        self.groups = [torch.nonzero(labels == t).squeeze(1) for t in labels.unique()]

    def __len__(self) -> int:
        return sum(-(-len(g) // self.batch_size) for g in self.groups)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        batches: list[torch.Tensor] = []
        for g in self.groups:
            shuffled = g[torch.randperm(len(g), generator=self.generator)]
            batches.extend(shuffled.split(self.batch_size))
        device = self.tensors[0].device
        for k in torch.randperm(len(batches), generator=self.generator).tolist():
            idx = batches[k].to(device)
            yield [t[idx] for t in self.tensors]


BATCHING = ("iid", "task-pure")


class _AllSeenData(MetaplasticStrategy):
    """Minibatches over the concatenation of ``self._parts`` (see module docstring)."""

    _parts: list[Any]
    batching: str = "iid"

    def _attach_concatenated(self) -> None:
        parts = [dataset_tensors(d, self.device) for d in self._parts]
        attach_tensors(self.adapted_dataset, *(torch.cat(cols) for cols in zip(*parts)))

    def make_train_dataloader(self, shuffle: bool = True, **kwargs: Any) -> None:
        tensors = dataset_tensors(self.adapted_dataset, self.device)
        if self.batching == "task-pure":
            self.dataloader = TaskPureBatchLoader(tensors, self.train_mb_size, self.generator)
        else:
            self.dataloader = TensorBatchLoader(tensors, self.train_mb_size, shuffle=True,
                                                generator=self.generator)


class CumulativeStrategy(_AllSeenData, Cumulative):
    """Avalanche's ``Cumulative`` on MetaplasticStrategy, all seen data as minibatches."""

    def __init__(self, *, batching: str = "iid", **kwargs: Any) -> None:
        super().__init__(criterion=nn.CrossEntropyLoss(), **kwargs)
        self._parts = []
        self.batching = batching

    def train_dataset_adaptation(self, **kwargs: Any) -> None:
        super().train_dataset_adaptation(**kwargs)
        self._parts.append(self.experience.dataset)
        self._attach_concatenated()


class JointStrategy(_AllSeenData, JointTraining):
    """Avalanche's ``JointTraining`` on MetaplasticStrategy, the whole stream as minibatches."""

    def __init__(self, *, batching: str = "iid", **kwargs: Any) -> None:
        super().__init__(criterion=nn.CrossEntropyLoss(), **kwargs)
        self.batching = batching

    def train_dataset_adaptation(self, **kwargs: Any) -> None:
        super().train_dataset_adaptation(**kwargs)
        self._parts = [e.dataset for e in self._experiences]
        self._attach_concatenated()


