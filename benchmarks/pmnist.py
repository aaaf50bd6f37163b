"""Permuted MNIST (Goodfellow et al. 2013; Kirkpatrick et al. 2017; Laborieux et al. 2021).

Each task applies one fixed random permutation to the 784 pixels of every MNIST image; labels
are unchanged. Permutations are drawn from a generator seeded with the run's seed (task 0 is
permuted too, as in the reference code). Pixels are scaled to [0, 1] (``ToTensor``, no
normalisation, as the paper). Task-incremental: experience ``i`` carries task label ``i`` and the
strategy restores per-task BatchNorm states; domain-incremental: all labels are 0.
"""

from __future__ import annotations

from pathlib import Path

import torch

from metabnn.benchmarks.registry import STREAMS, Stream
from metabnn.benchmarks.tensor_streams import benchmark_from_tensors, seeded_subset
from metabnn.config import StreamConfig
from metabnn.data import load_mnist_like
from metabnn.seeding import generator

__all__ = ["permuted_mnist"]


@STREAMS.register(
    "pmnist",
    description="permuted MNIST: one seeded pixel permutation per task",
    scenarios=("task", "domain", "class"),
    source="MNIST (60k train / 10k test per task)",
    sizes="3 tasks x 10 classes (any --tasks; class scenario: 10 x tasks classes, digit d of "
          "task t is class 10 t + d); 784 pixels",
    default_model="bnn",
    default_tasks=3,
)
def permuted_mnist(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    gen = generator(seed, "stream")
    splits = []
    for train, n in ((True, config.train_per_task), (False, config.test_per_task)):
        images, labels = load_mnist_like("MNIST", data_root, train)
        x = images.flatten(1).float().div_(255.0)  # (N, 784) in [0, 1]
        splits.append(seeded_subset(x, labels, n, gen))
    perms = [torch.randperm(784, generator=gen) for _ in range(config.tasks)]
    label = (lambda t: t) if config.scenario == "task" else (lambda t: 0)
    # class-incremental (van de Ven & Tolias 2019): task t's digits are classes 10 t .. 10 t + 9
    offset = (lambda t: 10 * t) if config.scenario == "class" else (lambda t: 0)
    (x_tr, y_tr), (x_te, y_te) = splits
    benchmark = benchmark_from_tensors(
        train=[(x_tr[:, p].contiguous(), y_tr + offset(t), label(t)) for t, p in enumerate(perms)],
        test=[(x_te[:, p].contiguous(), y_te + offset(t), label(t)) for t, p in enumerate(perms)],
    )
    n_classes = 10 * config.tasks if config.scenario == "class" else 10
    return Stream(benchmark, input_shape=(784,), n_classes=n_classes, scenario=config.scenario,
                  task_classes=(10,) * config.tasks)
