"""Sign binarization with straight-through estimators (STE).

Forward: :math:`\\operatorname{sign}(x) \\in \\{-1, +1\\}`, with ``sign(0) = +1`` so that every
value is strictly binary (as larq's ``ste_sign``); ``zero="zero"`` keeps ``sign(0) = 0`` instead
(``torch.sign``, what the authors' code of Laborieux et al. 2021 computes: there an exact 0 —
a BatchNorm output equal to its batch mean while the BatchNorm bias is still 0, as at the first
step of every task — passes on as 0, a third value).

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
    "SIGN_ZERO",
    "binarize",
    "sign_ste",
    "sign_identity_ste",
    "SignSTE",
    "SignIdentitySTE",
    "Quantizer",
    "SignQuantizer",
    "WeightSignQuantizer",
]


SIGN_ZERO = ("plus-one", "zero")
"""What sign(0) is: ``plus-one`` (+1, strictly binary; the default) or ``zero`` (0, as
``torch.sign`` and the authors' code)."""


def binarize(x: torch.Tensor, zero: str = "plus-one") -> torch.Tensor:
    """``sign(x)`` with ``sign(0) = +1`` (``zero="zero"``: 0), no gradient bookkeeping.

    ``copysign(1, x)`` is one memory pass (``torch.where(x < 0, -1, 1)`` costs a mask and a
    select, 10x slower on CPU); it maps ``-0.0`` to -1, which only an exact negative zero hits.
    """
    if zero == "zero":
        return torch.sign(x)
    return torch.copysign(torch.ones((), dtype=x.dtype, device=x.device), x)


class SignSTE(torch.autograd.Function):
    """sign(x) forward; gradient passed only where |x| <= 1 (clipped identity)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, zero: str = "plus-one") -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return binarize(x, zero)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * (x.abs() <= 1).to(grad_output.dtype), None


class SignIdentitySTE(torch.autograd.Function):
    """sign(w) forward; gradient passed unchanged (hidden weights are not clipped)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, zero: str = "plus-one") -> torch.Tensor:  # type: ignore[override]
        return binarize(w, zero)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad_output, None


def sign_ste(x: torch.Tensor, zero: str = "plus-one") -> torch.Tensor:
    """Binarize activations: sign forward, clipped-identity gradient."""
    return SignSTE.apply(x, zero)


def sign_identity_ste(w: torch.Tensor, zero: str = "plus-one") -> torch.Tensor:
    """Binarize weights: sign forward, identity gradient."""
    return SignIdentitySTE.apply(w, zero)


class Quantizer(nn.Module):
    """Base class of quantizers: a module mapping real values to ``precision``-bit values."""

    precision: int = 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class SignQuantizer(Quantizer):
    """Activation binarizer (clipped STE); ``zero``: what sign(0) is (:data:`SIGN_ZERO`)."""

    precision = 1

    def __init__(self, zero: str = "plus-one") -> None:
        super().__init__()
        self.zero = zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sign_ste(x, self.zero)


class WeightSignQuantizer(Quantizer):
    """Weight binarizer (identity STE onto the hidden weight); ``zero`` as
    :class:`SignQuantizer`."""

    precision = 1

    def __init__(self, zero: str = "plus-one") -> None:
        super().__init__()
        self.zero = zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sign_identity_ste(x, self.zero)
