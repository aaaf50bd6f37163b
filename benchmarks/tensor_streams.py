"""Turning tensors into Avalanche streams, keeping the tensors for fast loaders."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from metabnn.data import attach_tensors

__all__ = ["tensor_experience_dataset", "benchmark_from_tensors", "seeded_subset"]


def tensor_experience_dataset(x: torch.Tensor, y: torch.Tensor, task_label: int):
    """An Avalanche classification dataset over ``(x, y)`` with one task label."""
    from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset

    t = torch.full((len(y),), task_label, dtype=torch.long)
    ds = _make_taskaware_tensor_classification_dataset(x, y, task_labels=task_label, targets=y)
    return attach_tensors(ds, x, y, t)


def benchmark_from_tensors(
    train: Sequence[tuple[torch.Tensor, torch.Tensor, int]],
    test: Sequence[tuple[torch.Tensor, torch.Tensor, int]],
):
    """An Avalanche benchmark with one experience per ``(x, y, task_label)`` triple."""
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
    from avalanche.benchmarks.scenarios.task_aware import with_task_labels

    return with_task_labels(
        benchmark_from_datasets(
            train=[tensor_experience_dataset(*e) for e in train],
            test=[tensor_experience_dataset(*e) for e in test],
        )
    )


def seeded_subset(
    x: torch.Tensor, y: torch.Tensor, n: int | None, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` examples drawn without replacement by ``generator`` (all when ``n`` is None)."""
    if n is None or n >= len(y):
        return x, y
    idx = torch.randperm(len(y), generator=generator)[:n]
    return x[idx], y[idx]
