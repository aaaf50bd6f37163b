"""A smaller MNIST for both sides of the harness: the first N training images, every test image.

Written in MNIST's own IDX format (magic number, sizes, then the bytes: LeCun et al.'s
specification) under ``<folder>/MNIST/raw``, so the authors' torchvision loader and metabnn's read
the same files, and neither side's code changes. The authors' training loop evaluates the whole
training set after every epoch through a per-sample DataLoader (about 100 s per epoch on 60,000
images here), which is what makes the full protocol cost hours over many seeds.
"""

from __future__ import annotations

import struct
from pathlib import Path

__all__ = ["reduced_mnist"]

_FILES = {  # name: (kind, is_train)
    "train-images-idx3-ubyte": ("images", True), "train-labels-idx1-ubyte": ("labels", True),
    "t10k-images-idx3-ubyte": ("images", False), "t10k-labels-idx1-ubyte": ("labels", False),
}


def _read(path: Path) -> tuple[tuple[int, ...], bytes]:
    data = path.read_bytes()
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


def _write(path: Path, magic: int, shape: tuple[int, ...], body: bytes) -> None:
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{len(shape)}I", *shape) + body)


def reduced_mnist(data_root: str | Path, folder: str | Path, train_images: int) -> Path:
    """``folder`` holding MNIST with the first ``train_images`` training images (and labels)
    and the whole test set; returns ``folder`` (a data root)."""
    src, dst = Path(data_root) / "MNIST" / "raw", Path(folder) / "MNIST" / "raw"
    dst.mkdir(parents=True, exist_ok=True)
    for name, (kind, train) in _FILES.items():
        shape, body = _read(src / name)
        if train and not 1 <= train_images <= shape[0]:
            raise ValueError(f"--train-images {train_images}: MNIST has {shape[0]} training images")
        n = train_images if train else shape[0]
        per_item = 1
        for d in shape[1:]:
            per_item *= d
        magic = 0x00000803 if kind == "images" else 0x00000801
        _write(dst / name, magic, (n, *shape[1:]), body[:n * per_item])
    for other in Path(data_root).iterdir():  # e.g. FashionMNIST, which the authors' script loads
        if other.name != "MNIST" and not (Path(folder) / other.name).exists():
            (Path(folder) / other.name).symlink_to(other.resolve())
    return Path(folder)
