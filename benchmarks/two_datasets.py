"""Two datasets one after the other: MNIST then Fashion-MNIST, and the reverse.

The paper's two-dataset sequence (Laborieux et al. 2021, "Synaptic metaplasticity in binarized
neural networks", Nat. Commun. 12, 2549): a network learns all of one dataset, then all of the
other; catastrophic forgetting shows as the first dataset's test accuracy collapsing during the
second task, and metaplasticity as it staying up. Pixels are scaled to [0, 1] and flattened.

Scenarios (see :mod:`metabnn.benchmarks.split`): ``task`` — task labels 0 and 1, both datasets
labelled
0-9 on one 10-way output, per-task BatchNorm states (the paper's protocol); ``domain`` — the same
10-way output and one shared BatchNorm, task label 0, so digit 3 and the dress share output 3;
``class`` — 20 classes, the second dataset labelled 10-19, a growing head.
"""

from __future__ import annotations

from pathlib import Path

from metabnn.benchmarks.registry import STREAMS, Stream
from metabnn.benchmarks.split import flat_pixels, labelled_stream
from metabnn.config import StreamConfig
from metabnn.data import load_mnist_like
from metabnn.seeding import generator

__all__ = ["mnist_fmnist", "fmnist_mnist"]


def _sequence(datasets: tuple[str, str], config: StreamConfig, seed: int, root: Path) -> Stream:
    tasks = []
    for t, name in enumerate(datasets):
        offset = 10 * t if config.scenario == "class" else 0
        (x_tr, y_tr), (x_te, y_te) = (load_mnist_like(name, root, train) for train in (True, False))
        tasks.append(((x_tr, y_tr + offset), (x_te, y_te + offset),
                      tuple(range(offset, offset + 10))))
    return labelled_stream(tasks, config, generator(seed, "stream"), (784,), flat_pixels)


_INFO = dict(
    scenarios=("task", "domain", "class"),
    sizes="2 tasks x 10 classes (20 in the class scenario); 60k train / 10k test per task",
    source="MNIST and Fashion-MNIST",
    default_model="bnn",
    default_tasks=2,
    tasks=(2,),
)


@STREAMS.register("mnist-fmnist", description="MNIST, then Fashion-MNIST (the paper's pair)",
                  **_INFO)
def mnist_fmnist(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    return _sequence(("MNIST", "FashionMNIST"), config, seed, data_root)


@STREAMS.register("fmnist-mnist", description="Fashion-MNIST, then MNIST", **_INFO)
def fmnist_mnist(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    return _sequence(("FashionMNIST", "MNIST"), config, seed, data_root)
