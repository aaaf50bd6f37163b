"""Independent seeds for each random consumer of a run, derived from the run's one seed.

``derived_seed(seed, "init")`` and ``derived_seed(seed, "order")`` are unrelated 63-bit integers,
so the stream, the initial weights and the data order draw from separate generators, and changing
how one consumes randomness never shifts another.
"""

from __future__ import annotations

import hashlib

import torch

__all__ = ["derived_seed", "generator"]


def derived_seed(seed: int, purpose: str) -> int:
    digest = hashlib.sha256(f"metabnn:{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(seed: int, purpose: str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derived_seed(seed, purpose)``."""
    return torch.Generator().manual_seed(derived_seed(seed, purpose))
