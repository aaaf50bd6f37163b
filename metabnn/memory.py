"""The memory a network's parameters take, by precision.

A binary weight (the sign of a hidden weight of a :class:`~metabnn.layers.BinaryLayer`) is
stored in 1 bit; every other parameter (full-precision weights, BatchNorm scales and shifts,
biases) and every floating-point buffer a model needs at inference (BatchNorm running
statistics, when tracked) in 32 bits. The hidden weights are training state, not what a chip
stores to infer: they are counted apart (``hidden_weights``), as what on-chip learning would
have to keep.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from metabnn.layers import BinaryLayer

__all__ = ["memory_footprint", "FLOAT_BITS"]

FLOAT_BITS = 32


def memory_footprint(model: nn.Module) -> dict[str, Any]:
    """``binary_weights``, ``real_parameters``, ``real_buffers`` (counts), ``bits`` of the
    inference model (1 bit per binary weight, 32 per real value), ``kib``, the share of weights
    that are binary, and ``hidden_weights`` (the real values behind the binary ones)."""
    binary_ids = {id(m.weight) for m in model.modules() if isinstance(m, BinaryLayer)}
    binary = real = 0
    for p in model.parameters():
        if id(p) in binary_ids:
            binary += p.numel()
        else:
            real += p.numel()
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    bits = binary + FLOAT_BITS * (real + buffers)
    weights = sum(m.weight.numel() for m in model.modules()
                  if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)))
    return {"binary_weights": binary, "real_parameters": real, "real_buffers": buffers,
            "bits": bits, "kib": bits / 8 / 1024,
            "binary_weight_share": binary / weights if weights else 0.0,
            "hidden_weights": binary, "float_bits": FLOAT_BITS}
