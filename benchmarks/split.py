"""Class-split streams: each task is a disjoint group of classes of one dataset.

``split-mnist`` and ``split-fmnist`` cut the 10 classes into ``tasks`` groups of consecutive
labels in their natural order, by default 5 tasks of 2 classes: {0, 1}, {2, 3}, ... (Zenke et al.
2017; van de Ven & Tolias, "Three scenarios for continual learning", 2019). Pixels are scaled to
[0, 1] and flattened, as in permuted MNIST.

Scenarios (the same for every class-split stream, :func:`labelled_stream`):

* ``task`` — experience ``t`` carries task label ``t``; labels are relative to the task
  (``0 .. k-1`` for its ``k`` classes). By default the model has one ``k``-way head per task,
  chosen by the task label (``stream.head=multi``: the literature's Task-IL, van de Ven & Tolias
  2019); ``stream.head=shared`` keeps one ``k``-way output for all tasks, which with per-task
  BatchNorm states (``stream.batchnorm=per-task``, the default in this scenario) is the paper's
  protocol: the task identity selects the BatchNorm state of every layer, the output layer's
  included;
* ``domain`` — the same relative labels and ``k``-way output, task label 0 everywhere, one shared
  BatchNorm: the learner is never told which task an input is from;
* ``class`` — global labels, task label 0, one output per class of the whole stream of which only
  the classes seen so far are active (a growing head, :class:`~metabnn.plugins.GrowingHeadPlugin`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from metabnn.benchmarks.registry import STREAMS, Stream
from metabnn.benchmarks.tensor_streams import benchmark_from_tensors, seeded_subset
from metabnn.config import StreamConfig
from metabnn.data import load_mnist_like
from metabnn.seeding import generator

__all__ = [
    "Task",
    "class_groups",
    "select_classes",
    "labelled_stream",
    "flat_pixels",
    "split_mnist",
    "split_fmnist",
]

XY = tuple[torch.Tensor, torch.Tensor]
#: One task: its training and test images with *global* labels, and its global class ids.
Task = tuple[XY, XY, tuple[int, ...]]
#: Raw stored images (e.g. uint8) -> the model's float input; applied after subsetting.
Prepare = Callable[[torch.Tensor], torch.Tensor]


def class_groups(n_classes: int, tasks: int) -> list[tuple[int, ...]]:
    """``tasks`` groups of consecutive class ids covering ``range(n_classes)``."""
    if n_classes % tasks:
        raise ValueError(f"{n_classes} classes do not split into {tasks} equal tasks")
    k = n_classes // tasks
    return [tuple(range(t * k, (t + 1) * k)) for t in range(tasks)]


def select_classes(x: torch.Tensor, y: torch.Tensor, classes: Sequence[int]) -> XY:
    """The examples of ``(x, y)`` whose label is in ``classes``, in their original order."""
    keep = torch.isin(y, torch.as_tensor(classes, dtype=y.dtype))
    return x[keep], y[keep]


def _relabel(y: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
    lut = torch.full((max(classes) + 1,), -1, dtype=torch.long)
    lut[torch.as_tensor(classes)] = torch.arange(len(classes))
    out = lut[y]
    if (out < 0).any():
        raise ValueError("a label lies outside its task's classes")
    return out


def labelled_stream(
    tasks: Sequence[Task],
    config: StreamConfig,
    gen: torch.Generator,
    input_shape: tuple[int, ...],
    prepare: Prepare,
) -> Stream:
    """A :class:`Stream` with one experience per task, labelled for ``config.scenario``.

    Subsets (``train_per_task``, ``test_per_task``) are drawn from ``gen``, task by task, on the
    stored images; ``prepare`` then turns them into model inputs (scaling as tensor ops).
    """
    scenario = config.scenario
    train, test = [], []
    for t, ((x_tr, y_tr), (x_te, y_te), classes) in enumerate(tasks):
        x_tr, y_tr = seeded_subset(x_tr, y_tr, config.train_per_task, gen)
        x_te, y_te = seeded_subset(x_te, y_te, config.test_per_task, gen)
        if scenario != "class":
            y_tr, y_te = _relabel(y_tr, classes), _relabel(y_te, classes)
        label = t if scenario == "task" else 0
        train.append((prepare(x_tr).contiguous(), y_tr, label))
        test.append((prepare(x_te).contiguous(), y_te, label))
    if scenario == "class":
        n_classes = max(max(c) for *_, c in tasks) + 1
    else:
        n_classes = max(len(c) for *_, c in tasks)
    benchmark = benchmark_from_tensors(train=train, test=test)
    return Stream(benchmark, input_shape=input_shape, n_classes=n_classes, scenario=scenario,
                  task_classes=tuple(len(c) for *_, c in tasks))


def flat_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` -> float ``(N, 784)`` in [0, 1] (``ToTensor``, as the paper)."""
    return images.flatten(1).float().div_(255.0)  # (N, 784)


def _split(dataset: str, config: StreamConfig, seed: int, data_root: Path) -> Stream:
    train = load_mnist_like(dataset, data_root, True)
    test = load_mnist_like(dataset, data_root, False)
    tasks = [
        (select_classes(*train, c), select_classes(*test, c), c)
        for c in class_groups(10, config.tasks)
    ]
    return labelled_stream(tasks, config, generator(seed, "stream"), (784,), flat_pixels)


_SPLIT_INFO = dict(
    scenarios=("task", "domain", "class"),
    task_head="multi",
    sizes="5 tasks x 2 classes (--tasks 1, 2 or 5); ~12k train / 2k test per task; 784 pixels",
    default_model="bnn",
    default_tasks=5,
    tasks=(1, 2, 5),
)


@STREAMS.register(
    "split-mnist", description="split MNIST: the digits in groups of consecutive classes",
    source="MNIST (60k train / 10k test)", **_SPLIT_INFO,
)
def split_mnist(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    return _split("MNIST", config, seed, data_root)


@STREAMS.register(
    "split-fmnist",
    description="split Fashion-MNIST: the articles in groups of consecutive classes",
    source="Fashion-MNIST (60k train / 10k test)", **_SPLIT_INFO,
)
def split_fmnist(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    return _split("FashionMNIST", config, seed, data_root)
