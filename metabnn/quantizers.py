"""Sign binarization with straight-through estimators (STE).

Forward: :math:`\\operatorname{sign}(x) \\in \\{-1, +1\\}`, with ``sign(0) = +1`` so that every
value is strictly binary (as larq's ``ste_sign``).

Backward, two estimators (Courbariaux et al. 2016, "Binarized Neural Networks"; Hubara et al. 2016):

* activations use the clipped identity
  :math:`\\partial \\mathrm{sign}/\\partial x := 1_{|x| \\le 1}`;
* weights use the plain identity: the gradient with respect to the binary weight is applied to the
  hidden weight unchanged. Laborieux et al. (2021) do not clip hidden weights, so the hidden
  weight can grow, and its magnitude is what metaplasticity reads.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "binarize",
    "sign_ste",
    "sign_identity_ste",
    "SignSTE",
    "SignIdentitySTE",
    "Quantizer",
    "SignQuantizer",
    "WeightSignQuantizer",
]


def binarize(x: torch.Tensor) -> torch.Tensor:
    """``sign(x)`` with ``sign(0) = +1``, no gradient bookkeeping.

    ``copysign(1, x)`` is one memory pass (``torch.where(x < 0, -1, 1)`` costs a mask and a
    select, 10x slower on CPU); it maps ``-0.0`` to -1, which only an exact negative zero hits.
    """
    return torch.copysign(torch.ones((), dtype=x.dtype, device=x.device), x)


class SignSTE(torch.autograd.Function):
    """sign(x) forward; gradient passed only where |x| <= 1 (clipped identity)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return binarize(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * (x.abs() <= 1).to(grad_output.dtype)


class SignIdentitySTE(torch.autograd.Function):
    """sign(w) forward; gradient passed unchanged (hidden weights are not clipped)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return binarize(w)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad_output


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """Binarize activations: sign forward, clipped-identity gradient."""
    return SignSTE.apply(x)


def sign_identity_ste(w: torch.Tensor) -> torch.Tensor:
    """Binarize weights: sign forward, identity gradient."""
    return SignIdentitySTE.apply(w)


class Quantizer(nn.Module):
    """Base class of quantizers: a module mapping real values to ``precision``-bit values."""

    precision: int = 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class SignQuantizer(Quantizer):
    """Activation binarizer (clipped STE)."""

    precision = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sign_ste(x)


class WeightSignQuantizer(Quantizer):
    """Weight binarizer (identity STE onto the hidden weight)."""

    precision = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sign_identity_ste(x)
