"""Shared fixtures: the real MNIST data root, and tiny runs' defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from metabnn.numerics import flush_subnormals

# every test runs in the runner's floating-point mode, whichever ran first (metabnn.numerics)
flush_subnormals()

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path | None:
    for candidate in (os.environ.get("METABNN_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if root is None:
        pytest.fail("real MNIST not found: set METABNN_DATA to a folder with MNIST/raw/*-ubyte")
    return root


@pytest.fixture(autouse=True)
def _two_threads():
    # METABNN_TEST_THREADS=1 for runners that fork after torch is warm (mutmut): a forked child
    # deadlocks in the OpenMP pool its parent started.
    torch.set_num_threads(int(os.environ.get("METABNN_TEST_THREADS", min(2, os.cpu_count() or 1))))
    yield
