"""Binarized layers with real-valued hidden (latent) weights.

``BinaryLinear`` and ``BinaryConv2d`` take exactly the arguments of ``nn.Linear`` and ``nn.Conv2d``
plus two quantizers (larq's ``QuantDense`` design):

.. math::  y = \\mathrm{linear}(q_{in}(x),\\ q_{k}(W_h)) + b

where :math:`W_h` is the fp32 ``weight`` parameter the optimizer updates (the *hidden weight*),
``kernel_quantizer`` defaults to sign with an identity STE, and ``input_quantizer`` defaults to
``None`` (real input, as for the first layer of the BNN). Pass ``SignQuantizer()`` to binarize
activations with the clipped STE. Hardware backends swap ``kernel_quantizer`` for a module that
reads the weights from a simulated memory array.

Reference: Hubara et al., "Binarized Neural Networks", NeurIPS 2016; Laborieux et al.,
"Synaptic metaplasticity in binarized neural networks", Nat. Commun. 12, 2549 (2021).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metabnn.quantizers import Quantizer, WeightSignQuantizer

__all__ = ["BinaryLayer", "BinaryLinear", "BinaryConv1d", "BinaryConv2d", "binary_layers"]


class BinaryLayer:
    """Marker mixin: ``self.weight`` of a subclass is a hidden weight read through a quantizer."""

    weight: nn.Parameter
    input_quantizer: nn.Module | None
    kernel_quantizer: nn.Module

    def _init_quantizers(
        self, input_quantizer: nn.Module | None, kernel_quantizer: nn.Module | None
    ) -> None:
        self.input_quantizer = input_quantizer
        self.kernel_quantizer = kernel_quantizer if kernel_quantizer is not None else (
            WeightSignQuantizer()
        )

    def quantized_weight(self) -> torch.Tensor:
        return self.kernel_quantizer(self.weight)

    def _quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.input_quantizer is None else self.input_quantizer(x)


class BinaryLinear(nn.Linear, BinaryLayer):
    """``nn.Linear`` with sign-binarized weights (and optionally inputs)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        input_quantizer: Quantizer | nn.Module | None = None,
        kernel_quantizer: Quantizer | nn.Module | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        self._init_quantizers(input_quantizer, kernel_quantizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self._quantize_input(x), self.quantized_weight(), self.bias)


class BinaryConv2d(nn.Conv2d, BinaryLayer):
    """``nn.Conv2d`` with sign-binarized kernels (and optionally inputs)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        input_quantizer: Quantizer | nn.Module | None = None,
        kernel_quantizer: Quantizer | nn.Module | None = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode, device, dtype,
        )
        self._init_quantizers(input_quantizer, kernel_quantizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self._quantize_input(x), self.quantized_weight(), self.bias)


class BinaryConv1d(nn.Conv1d, BinaryLayer):
    """``nn.Conv1d`` with sign-binarized kernels (and optionally inputs): signals (ECG, EEG)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: str | int = 0,
        bias: bool = True,
        *,
        input_quantizer: Quantizer | nn.Module | None = None,
        kernel_quantizer: Quantizer | nn.Module | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self._init_quantizers(input_quantizer, kernel_quantizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self._quantize_input(x), self.quantized_weight(), self.bias)


def binary_layers(model: nn.Module) -> list[tuple[str, BinaryLayer]]:
    """All binary layers of ``model`` with their qualified names, in definition order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, BinaryLayer)]
