"""``rotated-mnist``: one task per rotation angle of the MNIST digits."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as F

from metabnn.benchmarks import STREAMS, Stream
from metabnn.benchmarks.tensor_streams import benchmark_from_tensors, seeded_subset
from metabnn.config import ConfigError, StreamConfig
from metabnn.data import load_mnist_like
from metabnn.seeding import generator


@STREAMS.register(
    "rotated-mnist", description="MNIST rotated by one angle per task (an example extension)",
    scenarios=("domain", "task"), source="MNIST (60k train / 10k test per task)",
    sizes="one task per angle; 784 pixels", default_model="bnn", default_tasks=3,
    params={"angles": ([0.0, 45.0, 90.0], "rotation of each task, degrees")},
)
def rotated_mnist(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    angles = [float(a) for a in config.params["angles"]]
    if len(angles) != config.tasks:
        raise ConfigError(f"stream.tasks={config.tasks} is invalid for rotated-mnist: one task "
                          f"per angle ({len(angles)} angles)")
    gen = generator(seed, "stream")
    parts = []
    for train, n in ((True, config.train_per_task), (False, config.test_per_task)):
        images, labels = load_mnist_like("MNIST", data_root, train)
        parts.append(seeded_subset(images, labels, n, gen))
    label = (lambda t: t) if config.scenario == "task" else (lambda t: 0)

    def rotate(x: torch.Tensor, angle: float) -> torch.Tensor:  # (N, 28, 28) uint8
        return F.rotate(x.unsqueeze(1), angle).flatten(1).float().div_(255.0)  # (N, 784)

    (x_tr, y_tr), (x_te, y_te) = parts
    benchmark = benchmark_from_tensors(
        train=[(rotate(x_tr, a), y_tr, label(t)) for t, a in enumerate(angles)],
        test=[(rotate(x_te, a), y_te, label(t)) for t, a in enumerate(angles)])
    return Stream(benchmark, input_shape=(784,), n_classes=10, scenario=config.scenario)
