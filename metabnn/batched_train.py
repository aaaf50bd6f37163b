"""Train K seeds of the metaplastic BNN as one :class:`~metabnn.batched.BatchedBinaryMLP`.

The loop is :class:`~metabnn.strategies.MetaplasticStrategy`'s with the task-incremental plugins
(:class:`~metabnn.plugins.TaskBatchNormPlugin`, :class:`~metabnn.plugins.AccuracyMatrixPlugin`),
written once for a leading seed axis:

* an experience is the K seeds' tensors stacked, ``x: (K, N, ...)``, ``y: (K, N)``, resident on
  the training device; a minibatch is a per-seed index gather ``(K, B, ...)``;
* every epoch each seed draws its own order, ``randperm(N, generator=g_k)``, from the generator
  its separate run's data loader would use (:class:`~metabnn.data.TensorBatchLoader`);
* the loss is :math:`\\sum_k \\mathrm{CE}_k`, each the mean over that seed's minibatch, so each
  seed gets exactly its own gradient; :class:`~metabnn.optim.MetaplasticAdam` steps the stacked
  parameters (fresh at every experience when ``reset_per_experience``, as the paper);
* after every epoch every test task is evaluated in ``eval_batch_size`` chunks, under that task's
  saved BatchNorm state when ``per_task_bn`` (Laborieux et al. 2021, task-incremental protocol);
  accuracies stay on the device until the end of the epoch (one host synchronisation per epoch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from metabnn.batched import BatchedBatchNorm1d, BatchedBinaryMLP
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups

__all__ = ["BatchedExperience", "BatchedTrainer"]


@dataclass
class BatchedExperience:
    """One experience of K seeds: ``x (K, N, ...)``, ``y (K, N)``, and its task label."""

    x: torch.Tensor
    y: torch.Tensor
    task_label: int = 0

    @classmethod
    def stack(cls, parts: Sequence[tuple[torch.Tensor, torch.Tensor]], task_label: int,
              device: torch.device | str) -> BatchedExperience:
        """Stack the seeds' ``(x, y)`` (equal sizes) onto ``device``."""
        if len({len(y) for _, y in parts}) != 1:
            raise ValueError("batched seeds need experiences of equal size in every seed")
        return cls(torch.stack([x.to(device) for x, _ in parts]),
                   torch.stack([y.to(device) for _, y in parts]), task_label)


class BatchedTrainer:
    """MetaplasticAdam training of K seeds at once; ``matrices[k]`` and ``curves[k]`` per seed.

    ``generators[k]`` orders seed k's minibatches. ``matrices[k][i][j]`` is seed k's accuracy on
    test task j after experience i; ``curves[k]`` has one row per epoch,
    ``{"experience": i, "epoch": e, "accuracy": [...]}`` (the Avalanche path's records).
    """

    def __init__(
        self, model: BatchedBinaryMLP, test_stream: Sequence[BatchedExperience], *,
        generators: Sequence[torch.Generator], meta: float, lr: float,
        betas: tuple[float, float], eps: float, weight_decay: float,
        reset_per_experience: bool, epochs: int, batch_size: int, eval_batch_size: int,
        per_task_bn: bool, on_epoch: Callable[[int, int, list[list[float]]], Any] | None = None,
    ) -> None:
        if len(generators) != model.k:
            raise ValueError(f"{len(generators)} generators for {model.k} seeds")
        self.model, self.test_stream, self.generators = model, list(test_stream), generators
        self.optim_args = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        self.meta, self.reset = meta, reset_per_experience
        self.epochs, self.batch_size, self.eval_batch_size = epochs, batch_size, eval_batch_size
        self.per_task_bn, self.on_epoch = per_task_bn, on_epoch
        self.optimizer: MetaplasticAdam | None = None
        self.bn_states: dict[int, dict[str, torch.Tensor]] = {}
        self.curves: list[list[dict[str, Any]]] = [[] for _ in range(model.k)]
        self.matrices: list[list[list[float]]] = [[] for _ in range(model.k)]
        self._experience = 0

    def train(self, experience: BatchedExperience) -> None:
        """All epochs of one experience, each followed by the evaluation of every task."""
        if self.optimizer is None or self.reset:
            groups = metaplastic_param_groups(self.model, self.meta)
            self.optimizer = MetaplasticAdam(groups, **self.optim_args)
        self.model.train()
        for epoch in range(self.epochs):
            self._epoch(experience)
            accs = self.evaluate()
            for k, row in enumerate(accs):
                self.curves[k].append(
                    {"experience": self._experience, "epoch": epoch, "accuracy": row})
            if self.on_epoch is not None:
                self.on_epoch(self._experience, epoch, accs)
        if self.per_task_bn:
            self.bn_states[experience.task_label] = self._bn_state()
        for k in range(self.model.k):
            self.matrices[k].append(list(self.curves[k][-1]["accuracy"]))
        self._experience += 1

    def _epoch(self, experience: BatchedExperience) -> None:
        x, y = experience.x, experience.y  # (K, N, ...), (K, N)
        k, n = y.shape
        order = torch.stack([torch.randperm(n, generator=g) for g in self.generators])
        order = order.to(y.device)  # (K, N)
        seeds = torch.arange(k, device=y.device)[:, None]  # (K, 1)
        opt = self.optimizer
        for start in range(0, n, self.batch_size):
            idx = order[:, start : start + self.batch_size]  # (K, B)
            logits = self.model(x[seeds, idx])  # (K, B, classes)
            # sum over seeds of each seed's mean loss: seed k's gradient is its own
            loss = F.cross_entropy(logits.flatten(0, 1), y[seeds, idx].flatten(),
                                   reduction="sum") / idx.shape[1]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    @torch.no_grad()
    def evaluate(self) -> list[list[float]]:
        """Accuracy ``[k][j]`` of seed k on test task j, each under its task's BatchNorm state."""
        was_training = self.model.training
        self.model.eval()
        current = self._bn_state() if self.bn_states else None
        correct = []
        for exp in self.test_stream:
            saved = self.bn_states.get(exp.task_label) if self.per_task_bn else None
            self._load_bn(saved if saved is not None else current)
            hits = torch.zeros(self.model.k, dtype=torch.long, device=exp.y.device)  # (K,)
            for start in range(0, exp.y.shape[1], self.eval_batch_size):
                logits = self.model(exp.x[:, start : start + self.eval_batch_size])
                hits += (logits.argmax(-1) == exp.y[:, start : start + self.eval_batch_size]
                         ).sum(1)
            correct.append(hits)
        self._load_bn(current)
        self.model.train(was_training)
        counts = torch.stack(correct, 1).tolist()  # (K, tasks): the one host sync
        return [[c / max(exp.y.shape[1], 1) for c, exp in zip(row, self.test_stream)]
                for row in counts]

    def _bn_state(self) -> dict[str, torch.Tensor]:
        return {f"{name}.{key}": value.detach().clone()
                for name, module in self.model.named_modules()
                if isinstance(module, BatchedBatchNorm1d)
                for key, value in module.state_dict().items()}

    @torch.no_grad()
    def _load_bn(self, state: dict[str, torch.Tensor] | None) -> None:
        if state is None:
            return
        targets = dict(self.model.named_parameters()) | dict(self.model.named_buffers())
        for key, value in state.items():
            targets[key].copy_(value)
