"""Data roots, MNIST-like tensors, and tensor-backed batches.

Data root resolution (first that is set wins): the ``--data-root`` flag, then the ``METABNN_DATA``
environment variable, then a user cache directory (``$XDG_CACHE_HOME/metabnn/data``, by default
``~/.cache/metabnn/data``). Datasets use torchvision's on-disk layout
(``<root>/MNIST/raw/train-images-idx3-ubyte`` ...), so torchvision reads them straight into
uint8 tensors (no PIL) and downloads them where a network exists.

Training never touches per-sample Python: every dataset is turned once into tensors
(:func:`dataset_tensors`) and minibatches are index gathers (:class:`TensorBatchLoader`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "batch_bounds",
    "DataNotFoundError",
    "resolve_data_root",
    "load_mnist_like",
    "attach_tensors",
    "dataset_tensors",
    "TensorBatchLoader",
    "IterationLoader",
    "MNIST_LIKE",
]

#: Datasets in torchvision's MNIST family, by the name of their folder under the data root.
MNIST_LIKE = ("MNIST", "FashionMNIST")

_TENSORS_ATTR = "_metabnn_tensors"


class DataNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says how to provide it."""


def resolve_data_root(flag: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``flag``, else ``$METABNN_DATA``, else the user cache dir."""
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get("METABNN_DATA")
    if env:
        return Path(env).expanduser()
    return _cache_root()


def _cache_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "metabnn" / "data"


def load_mnist_like(
    name: str, root: str | os.PathLike[str], train: bool, *, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of MNIST or Fashion-MNIST.

    Reads ``<root>/<name>/raw``; if absent and ``download``, torchvision fetches it.
    Raises :class:`DataNotFoundError` with the three ways to point at the data otherwise.
    """
    import torchvision.datasets as tvd

    if name not in MNIST_LIKE:
        raise ValueError(f"unknown dataset {name!r}; expected one of {MNIST_LIKE}")
    cls = getattr(tvd, name)
    root = Path(root)
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise _missing(name, root) from None
        try:
            ds = cls(str(root), train=train, download=True)
        except Exception as err:  # no network, DNS failure, HTTP error...
            raise _missing(name, root, err) from None
    return ds.data, ds.targets.long()


def _missing(name: str, root: Path, err: Exception | None = None) -> DataNotFoundError:
    why = f" and could not be downloaded ({type(err).__name__})" if err else ""
    return DataNotFoundError(
        f"{name} not found under {root}/{name}/raw{why}. Point metabnn at a folder holding "
        f"{name}/raw/*-ubyte with --data-root DIR, or set METABNN_DATA=DIR, or place the files "
        f"in {_cache_root()} (used when neither is set)."
    )


def attach_tensors(dataset: Any, *tensors: torch.Tensor) -> Any:
    """Record the tensors ``(x, y, t)`` behind ``dataset`` so loaders can skip per-sample reads.

    Avalanche's ``train()``/``eval()`` views are shallow copies and keep the record; subsets and
    concatenations are new objects and fall back to :func:`dataset_tensors`' one-time read.
    """
    setattr(dataset, _TENSORS_ATTR, tuple(tensors))
    return dataset


def dataset_tensors(dataset: Any, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    """``(x, y, t)`` tensors of a dataset whose items are ``(x, y[, t])``, on ``device``.

    Uses the tensors recorded by :func:`attach_tensors` when present; otherwise reads the dataset
    once through a DataLoader (its own ``collate_fn``) and records the result on it. A missing
    task label column becomes zeros.
    """
    tensors = getattr(dataset, _TENSORS_ATTR, None)
    if tensors is None:
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=4096, shuffle=False,
            collate_fn=getattr(dataset, "collate_fn", None),
        )
        cols: list[list[torch.Tensor]] = []
        for batch in loader:
            if not cols:
                cols = [[] for _ in batch]
            for col, part in zip(cols, batch):
                col.append(torch.as_tensor(part))
        tensors = tuple(torch.cat(c) for c in cols)
        if len(tensors) == 2:
            tensors = (*tensors, torch.zeros(len(tensors[1]), dtype=torch.long))
        attach_tensors(dataset, *tensors)
    device = torch.device(device)
    if tensors[0].device != device:
        tensors = tuple(t.to(device) for t in tensors)
        attach_tensors(dataset, *tensors)
    return tensors


class IterationLoader:
    """Exactly ``iterations`` minibatches of ``loader``, iterating it again (a fresh shuffle) as
    often as needed: a training phase counted in iterations, not epochs."""

    def __init__(self, loader: Any, iterations: int) -> None:
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self.loader = loader
        self.iterations = iterations

    def __len__(self) -> int:
        return self.iterations

    def __iter__(self) -> Iterator[Any]:
        done = 0
        while done < self.iterations:
            empty = True
            for batch in self.loader:
                empty = False
                yield batch
                done += 1
                if done == self.iterations:
                    return
            if empty:
                raise ValueError("cannot draw iterations from an empty loader")


def batch_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the minibatches of ``n`` examples: ``size`` each, the last one
    shorter, except that a lone last example joins the batch before it (BatchNorm cannot
    normalise a batch of one with its own statistics)."""
    bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


class TensorBatchLoader:
    """Minibatches ``[x, y, t]`` of in-memory tensors by index gathers.

    Shuffles with its own ``torch.Generator`` (seeded by the caller): same seed, same order. A
    lone last example joins the batch before it (:func:`batch_bounds`).
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        *,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = drop_last
        self.n = len(tensors[0])

    def _bounds(self) -> list[tuple[int, int]]:
        bounds = batch_bounds(self.n, self.batch_size)
        if self.drop_last and bounds and bounds[-1][1] - bounds[-1][0] < self.batch_size:
            bounds = bounds[:-1]
        return bounds

    def __len__(self) -> int:
        return len(self._bounds())

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        device = self.tensors[0].device
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator).to(device)
        else:
            order = torch.arange(self.n, device=device)
        for start, stop in self._bounds():
            idx = order[start:stop]
            yield [t[idx] for t in self.tensors]
