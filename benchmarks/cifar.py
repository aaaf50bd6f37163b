"""CIFAR-10 and CIFAR-100 streams: split CIFAR-10 / CIFAR-100 and vehicles-then-animals.

Data (Krizhevsky 2009) is read from torchvision's on-disk layout under the data root
(``<root>/cifar-10-batches-py/{data_batch_1..5,test_batch}`` and
``<root>/cifar-100-python/{train,test}``, the python pickle batches), straight into uint8 tensors
``(N, 3, 32, 32)``. Missing files are downloaded by torchvision where a network exists (it checks
their MD5 sums then); otherwise :class:`~metabnn.data.DataNotFoundError` names the three ways to
provide them. Reading does not re-check MD5 sums, so that the tests' small generated batches go
through the same reader.

Images are standardised per channel as tensor ops, with the usual training-set statistics; no
augmentation (augmentation would need per-batch work inside the training loop).

Streams (scenarios as in :mod:`metabnn.benchmarks.split`): ``split-cifar10`` (5 tasks x 2 classes),
``split-cifar100`` (10 x 10 or 20 x 5 classes), ``cifar10-vehicles-animals`` (task 0: airplane,
automobile, ship, truck; task 1: the six animals — a split with 4 and 6 classes, so no domain
scenario, whose outputs would mean different things in the two tasks).
"""

from __future__ import annotations

import os
import pickle
from functools import partial
from pathlib import Path

import numpy as np
import torch

from metabnn.benchmarks.registry import STREAMS, Stream
from metabnn.benchmarks.split import class_groups, labelled_stream, select_classes
from metabnn.config import StreamConfig
from metabnn.data import DataNotFoundError, resolve_data_root
from metabnn.seeding import generator

__all__ = [
    "CIFAR",
    "load_cifar",
    "standardise",
    "split_cifar10",
    "split_cifar100",
    "cifar10_vehicles_animals",
    "VEHICLES",
    "ANIMALS",
]

#: Per dataset: torchvision class name, label key in the pickles, channel mean and std.
CIFAR = {
    "CIFAR10": ("CIFAR10", "labels", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "CIFAR100": ("CIFAR100", "fine_labels", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
VEHICLES = (0, 1, 8, 9)  # airplane, automobile, ship, truck
ANIMALS = (2, 3, 4, 5, 6, 7)  # bird, cat, deer, dog, frog, horse


def _files(name: str, root: Path, train: bool) -> list[Path]:
    import torchvision.datasets as tvd

    cls = getattr(tvd, CIFAR[name][0])
    listed = cls.train_list if train else cls.test_list
    return [root / cls.base_folder / f for f, _md5 in listed]


def load_cifar(
    name: str, root: str | os.PathLike[str], train: bool, *, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64 of CIFAR-10 or CIFAR-100."""
    if name not in CIFAR:
        raise ValueError(f"unknown dataset {name!r}; expected one of {tuple(CIFAR)}")
    root = Path(root)
    files = _files(name, root, train)
    if not all(f.exists() for f in files):
        if not download:
            raise _missing(name, root)
        import torchvision.datasets as tvd

        try:
            getattr(tvd, CIFAR[name][0])(str(root), train=train, download=True)
        except Exception as err:  # no network, DNS failure, HTTP error, bad checksum...
            raise _missing(name, root, err) from None
    data, labels = [], []
    for path in files:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
        data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(entry[CIFAR[name][1]])
    return torch.from_numpy(np.concatenate(data)), torch.tensor(labels, dtype=torch.long)


def _missing(name: str, root: Path, err: Exception | None = None) -> DataNotFoundError:
    folder = _files(name, root, True)[0].parent
    why = f" and could not be downloaded ({type(err).__name__})" if err else ""
    return DataNotFoundError(
        f"{name} not found under {folder}{why}. Point metabnn at a folder holding "
        f"{folder.name}/ (torchvision's python batches) with --data-root DIR, or set "
        f"METABNN_DATA=DIR, or place it in {resolve_data_root(None)} (used when neither is set)."
    )


def standardise(images: torch.Tensor, name: str) -> torch.Tensor:
    """uint8 ``(N, 3, 32, 32)`` -> float ``(x / 255 - mean_c) / std_c`` per channel ``c``."""
    _, _, mean, std = CIFAR[name]
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)
    return images.float().div_(255.0).sub_(mean_t).div_(std_t)  # (N, 3, 32, 32)


def _stream(name: str, groups: list[tuple[int, ...]], config: StreamConfig, seed: int,
            root: Path) -> Stream:
    train, test = load_cifar(name, root, True), load_cifar(name, root, False)
    tasks = [(select_classes(*train, c), select_classes(*test, c), c) for c in groups]
    return labelled_stream(tasks, config, generator(seed, "stream"), (3, 32, 32),
                           partial(standardise, name=name))


@STREAMS.register(
    "split-cifar10", description="split CIFAR-10: the classes in groups of consecutive labels",
    scenarios=("task", "domain", "class"), source="CIFAR-10 (50k train / 10k test), torchvision",
    task_head="multi",
    sizes="5 tasks x 2 classes (--tasks 1, 2 or 5); 10k train / 2k test per task; 3x32x32",
    default_model="bnn-conv", default_tasks=5, tasks=(1, 2, 5),
)
def split_cifar10(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    return _stream("CIFAR10", class_groups(10, config.tasks), config, seed, data_root)


@STREAMS.register(
    "split-cifar100", description="split CIFAR-100: the classes in groups of consecutive labels",
    scenarios=("task", "domain", "class"), source="CIFAR-100 (50k train / 10k test), torchvision",
    task_head="multi",
    sizes="10 tasks x 10 classes (--tasks 1, 2, 5, 10 or 20); 5k train / 1k test per task; "
          "3x32x32",
    default_model="bnn-conv", default_tasks=10, tasks=(1, 2, 5, 10, 20),
)
def split_cifar100(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    return _stream("CIFAR100", class_groups(100, config.tasks), config, seed, data_root)


@STREAMS.register(
    "cifar10-vehicles-animals",
    description="CIFAR-10 vehicles (4 classes), then animals (6 classes)",
    scenarios=("task", "class"), source="CIFAR-10 (50k train / 10k test), torchvision",
    task_head="multi",
    sizes="2 tasks: 20k / 4k and 30k / 6k train / test images; 3x32x32",
    default_model="bnn-conv", default_tasks=2, tasks=(2,),
)
def cifar10_vehicles_animals(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    return _stream("CIFAR10", [VEHICLES, ANIMALS], config, seed, data_root)
