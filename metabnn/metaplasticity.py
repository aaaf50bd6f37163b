"""The metaplasticity rule of Laborieux et al. (2021) as pure functions.

Laborieux, Ernoult, Hirtzlin & Querlioz, "Synaptic metaplasticity in binarized neural networks",
Nat. Commun. 12, 2549 (2021), Eq. (1) and Algorithm 1:

.. math::  f_{meta}(W_h; m) = 1 - \\tanh^2(m\\,|W_h|)

The Adam step :math:`\\Delta W_h = -\\eta\\, \\hat m / (\\sqrt{\\hat v} + \\epsilon)`
is multiplied by :math:`f_{meta}` only where it moves :math:`W_h` toward zero, i.e. where
:math:`\\operatorname{sign}(W_h)\\, \\hat m > 0` (the step would eventually flip the binary
weight);
steps that grow :math:`|W_h|` are left unscaled. :math:`m = 0` gives :math:`f_{meta} \\equiv 1`.
"""

from __future__ import annotations

import torch

__all__ = ["f_meta", "consolidation_mask", "metaplastic_scale", "scale_toward_zero_"]


def f_meta(w: torch.Tensor, m: float) -> torch.Tensor:
    """:math:`1 - \\tanh^2(m |w|)`, in (0, 1], equal to 1 at w = 0 or m = 0."""
    return 1.0 - torch.tanh(m * w.abs()).square()


def consolidation_mask(w: torch.Tensor, exp_avg: torch.Tensor) -> torch.Tensor:
    """Where the Adam step :math:`-\\hat m` moves ``w`` toward zero: ``sign(w) * exp_avg > 0``."""
    return torch.sign(w) * exp_avg > 0


def metaplastic_scale(w: torch.Tensor, exp_avg: torch.Tensor, m: float) -> torch.Tensor:
    """The factor applied to each element's step: f_meta where consolidating, 1 elsewhere."""
    return torch.where(consolidation_mask(w, exp_avg), f_meta(w, m), torch.ones_like(w))


def scale_toward_zero_(exp_avg: torch.Tensor, w: torch.Tensor, m: float) -> torch.Tensor:
    """Return ``exp_avg * metaplastic_scale(w, exp_avg, m)`` with few memory passes.

    Uses :math:`\\tanh(m w)^2 = \\tanh^2(m |w|)` and that :math:`\\tanh(m w)` has the sign of
    :math:`w` for :math:`m > 0`, so the mask is :math:`t\\, \\hat m > 0` with
    :math:`t = \\tanh(m w)`; the result is :math:`\\hat m - t \\cdot \\max(t \\hat m, 0)`.
    Equal to :func:`metaplastic_scale` times ``exp_avg`` up to float rounding; the optimizer's hot
    path. Returns a new tensor; ``exp_avg`` is not modified.
    """
    if m == 0:
        return exp_avg
    t = torch.tanh(w * abs(m))  # f_meta depends on m only through tanh^2(m|w|)
    s = (t * exp_avg).clamp_min_(0.0)
    return torch.addcmul(exp_avg, t, s, value=-1.0)
