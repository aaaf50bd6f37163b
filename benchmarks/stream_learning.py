"""Stream learning: one dataset cut into ``k`` i.i.d. chunks, learnt one after the other.

Laborieux et al. 2021 ("Synaptic metaplasticity in binarized neural networks", Nat. Commun. 12,
2549, stream-learning experiments): the training set is shuffled with a seeded permutation and cut
into ``k`` equal chunks (paper: 60 for Fashion-MNIST, 20 for CIFAR-10), each one experience. The
chunks come from the same distribution, so there is nothing to tell the learner: no task label
(all 0), no optimizer reset and no BatchNorm switch between chunks (the stream is registered with
``boundaries=False`` and :func:`metabnn.benchmarks.registry.resolve` sets
``optim.reset_per_experience = False``). The test stream is one experience, the whole test set,
evaluated after every chunk; the accuracy matrix has one column. ``--chunks 1`` is the same
network trained on the whole dataset, the reference the metaplastic stream is compared with.

``train_per_task`` keeps only that many images per chunk, ``test_per_task`` that many test images.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch

from metabnn.benchmarks.cifar import load_cifar, standardise
from metabnn.benchmarks.registry import STREAMS, Stream
from metabnn.benchmarks.split import Prepare, flat_pixels
from metabnn.benchmarks.tensor_streams import benchmark_from_tensors, seeded_subset
from metabnn.config import StreamConfig
from metabnn.data import load_mnist_like
from metabnn.seeding import generator

__all__ = ["iid_chunks", "chunked_stream", "stream_fmnist", "stream_cifar10"]


def iid_chunks(n: int, k: int, gen: torch.Generator, per_chunk: int | None = None
               ) -> list[torch.Tensor]:
    """``k`` disjoint index sets of ``range(n)``: a seeded permutation cut into equal parts.

    The first ``n mod k`` chunks have one more index; ``per_chunk`` truncates each chunk.
    """
    if not 1 <= k <= n:
        raise ValueError(f"cannot cut {n} examples into {k} chunks")
    chunks = torch.tensor_split(torch.randperm(n, generator=gen), k)
    return [c[:per_chunk] if per_chunk is not None else c for c in chunks]


def chunked_stream(
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    config: StreamConfig,
    seed: int,
    input_shape: tuple[int, ...],
    prepare: Prepare,
) -> Stream:
    """``config.chunks`` training experiences and one test experience, all with task label 0.

    ``prepare`` turns stored images into model inputs, after chunking and subsetting.
    """
    gen = generator(seed, "stream")
    (x, y), (x_te, y_te) = train, test
    chunks = iid_chunks(len(y), config.chunks, gen, config.train_per_task)
    x_te, y_te = seeded_subset(x_te, y_te, config.test_per_task, gen)
    benchmark = benchmark_from_tensors(
        train=[(prepare(x[idx]).contiguous(), y[idx], 0) for idx in chunks],
        test=[(prepare(x_te).contiguous(), y_te, 0)],
    )
    n_classes = int(y.max()) + 1
    return Stream(benchmark, input_shape=input_shape, n_classes=n_classes,
                  scenario=config.scenario, boundaries=False)


@STREAMS.register(
    "stream-fmnist", description="stream learning: Fashion-MNIST in k i.i.d. chunks",
    scenarios=("domain",), source="Fashion-MNIST (60k train / 10k test)",
    sizes="60 chunks of 1k train images (--chunks k: 60k/k each); full 10k test set; 784 pixels",
    default_model="bnn", default_chunks=60, boundaries=False,
)
def stream_fmnist(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    train = load_mnist_like("FashionMNIST", data_root, True)
    test = load_mnist_like("FashionMNIST", data_root, False)
    return chunked_stream(train, test, config, seed, (784,), flat_pixels)


@STREAMS.register(
    "stream-cifar10", description="stream learning: CIFAR-10 in k i.i.d. chunks",
    scenarios=("domain",), source="CIFAR-10 (50k train / 10k test), torchvision",
    sizes="20 chunks of 2.5k train images (--chunks k: 50k/k each); full 10k test set; 3x32x32",
    default_model="bnn-conv", default_chunks=20, boundaries=False,
)
def stream_cifar10(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    train = load_cifar("CIFAR10", data_root, True)
    test = load_cifar("CIFAR10", data_root, False)
    return chunked_stream(train, test, config, seed, (3, 32, 32),
                          partial(standardise, name="CIFAR10"))
