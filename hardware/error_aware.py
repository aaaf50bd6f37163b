"""Error-aware training: random sign flips of the binary weights in the training forward pass.

Hirtzlin et al. (arXiv 1904.03652) train a BNN that will run on error-prone memory by flipping
each binary weight with probability :math:`p` in every training forward pass, freshly drawn
each pass; the gradient reaches the hidden weight straight through (as if unflipped). A
network trained so tolerates a BER up to :math:`4\\times10^{-2}` at inference. This is a
training device, separate from the device physics of :mod:`metabnn.hardware.array`; ``p`` may be one
rate or a range :math:`[p_{lo}, p_{hi}]` from which each pass draws its rate uniformly.
"""

from __future__ import annotations

import torch

__all__ = ["flip_signs", "draw_rate"]


def draw_rate(ber: float | tuple[float, float], generator: torch.Generator) -> float:
    """``ber`` itself, or a uniform draw from the range ``(lo, hi)``."""
    if isinstance(ber, tuple):
        lo, hi = ber
        return lo + (hi - lo) * float(torch.rand((), generator=generator))
    return float(ber)


def flip_signs(values: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """``values`` with each entry negated with probability ``p`` (a new tensor)."""
    if p <= 0:
        return values
    flip = torch.rand(values.shape, generator=generator) < p  # same shape as values
    return torch.where(flip.to(values.device), -values, values)
