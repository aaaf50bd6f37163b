"""Multi-head Task-IL: one output head per task, chosen by the task label.

The literature's task-incremental scenario (van de Ven & Tolias, "Three scenarios for continual
learning", 2019) gives each task its own output units and lets the task label pick them, at
training and at test. :class:`MultiHeadModel` wraps any metabnn network built with
:math:`\\sum_t C_t` outputs (the classes of every task, in task order): head :math:`t` is the
block of :math:`C_t` columns that follows heads :math:`0 .. t-1`, so every head sits on the
shared layers and a binary network keeps its ``BinaryLinear -> BatchNorm1d`` output layer (the
BatchNorm is per unit, so a block of units is a head of its own). Labels are relative to the task
(``0 .. C_t - 1``).

The body runs once on the whole minibatch, then each example's head is gathered by its task
label, so a minibatch that mixes tasks (replay, joint training) is normalised as one batch, as
a test batch of one task is. It is an Avalanche ``MultiTaskModule``: strategies and plugins call
it with task labels (``avalanche_forward``), LwF distils every known head, and with
``task_labels=None`` it returns every known head's output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from avalanche.models import MultiTaskModule
from torch import nn

__all__ = ["MultiHeadModel"]


class MultiHeadModel(MultiTaskModule):
    """``body`` (with ``sum(head_sizes)`` outputs) as one head per task (module docstring)."""

    multi_head = True
    """Read by :func:`metabnn.evaluation.accuracy`, which passes task labels to such models."""

    def __init__(self, body: nn.Module, head_sizes: Sequence[int]) -> None:
        super().__init__()
        if not head_sizes or min(head_sizes) < 1:
            raise ValueError(f"head_sizes={list(head_sizes)} is invalid: one size >= 1 per task")
        self.body = body
        self.head_sizes = tuple(int(c) for c in head_sizes)
        widest = max(self.head_sizes)
        starts = [sum(self.head_sizes[:t]) for t in range(len(self.head_sizes))]
        columns = torch.zeros(len(self.head_sizes), widest, dtype=torch.long)
        valid = torch.zeros(len(self.head_sizes), widest, dtype=torch.bool)
        for t, (start, size) in enumerate(zip(starts, self.head_sizes)):
            columns[t, :size] = torch.arange(start, start + size)
            valid[t, :size] = True
        self.register_buffer("columns", columns, persistent=False)  # (T, C_max)
        self.register_buffer("valid", valid, persistent=False)  # (T, C_max)

    def forward(self, x: torch.Tensor, task_labels: torch.Tensor | int | None = None
                ) -> torch.Tensor | dict[int, torch.Tensor]:
        if task_labels is None:
            return self.forward_all_tasks(x)
        logits = self.body(x)  # (B, sum of head sizes)
        if isinstance(task_labels, int):
            task_labels = torch.full((len(logits),), task_labels, dtype=torch.long,
                                     device=logits.device)
        labels = task_labels.to(logits.device).long()
        out = logits.gather(1, self.columns[labels])  # (B, C_max)
        return out.masked_fill(~self.valid[labels], float("-inf"))

    def adaptation(self, experience: Any) -> None:
        """Record the task labels trained on (the heads LwF distils); the heads are fixed, so
        nothing else adapts (and metabnn's tensor experiences need no class bookkeeping)."""
        if self.training:
            labels = getattr(experience, "task_labels", None)
            if labels is None:
                labels = [getattr(experience, "task_label", 0)]
            self.known_train_tasks_labels |= {int(t) for t in labels}

    def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
        return self.forward(x, int(task_label))

    def forward_all_tasks(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        known = self.known_train_tasks_labels or set(range(len(self.head_sizes)))
        return {t: self.forward_single_task(x, t) for t in sorted(known)}
