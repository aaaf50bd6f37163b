"""Out-of-distribution test images for :class:`metabnn.plugins.OODPlugin`.

``fmnist`` (Fashion-MNIST) or ``mnist``: the first ``n`` test images (all when ``n`` is unset),
preprocessed as the MNIST-like streams preprocess theirs (flattened, pixels in [0, 1]) and not
permuted: the MESU paper's protocol (Bonnet et al. 2025, Fig. 3: each permuted-MNIST task
against Fashion-MNIST).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from metabnn.config import ConfigError
from metabnn.data import load_mnist_like

__all__ = ["OOD_DATASETS", "ood_images"]

OOD_DATASETS = {"fmnist": "FashionMNIST", "mnist": "MNIST"}


def ood_images(name: str, data_root: Path, *, n: int | None,
               input_shape: tuple[int, ...]) -> torch.Tensor:
    """``(n, *input_shape)`` float images of ``name``'s test set."""
    if name not in OOD_DATASETS:
        raise ConfigError(f"stream.ood={name!r} is invalid: use one of {', '.join(OOD_DATASETS)}")
    if int(np.prod(input_shape)) != 784:
        raise ConfigError(f"stream.ood={name!r} needs a stream of 28x28 images (its model takes "
                          f"{tuple(input_shape)})")
    images, _ = load_mnist_like(OOD_DATASETS[name], data_root, train=False)
    x = images[:n].flatten(1).float().div_(255.0)
    return x.reshape(len(x), *input_shape)
