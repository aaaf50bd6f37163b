"""Convolutional networks for CIFAR: a binary conv net and its full-precision twin.

Binary conv net (the VGG-like BNN of Hubara et al., "Binarized Neural Networks", NeurIPS 2016,
used for CIFAR-10 by Laborieux et al. 2021): ``len(channels)`` 3x3 convolutions (stride 1,
padding 1, no bias), each followed by BatchNorm2d, with a 2x2 max-pool between every second
convolution and its BatchNorm; then the binary MLP head ``hidden`` -> ``out``
(:class:`~metabnn.models.BinaryMLP` with binarized input). Every layer but the first binarizes
its input with the clipped STE (the sign activation of the previous layer):

.. math::  a_{l+1} = \\mathrm{BN}(\\mathrm{pool}(\\mathrm{conv}(\\mathrm{sign}(a_l),\\
           \\mathrm{sign}(W_l))))

and the first convolution sees the real, standardised image. Weights are
:class:`~metabnn.layers.BinaryConv2d` / :class:`~metabnn.layers.BinaryLinear` hidden weights, so
MetaplasticAdam consolidates them like the MLP's. The twin :class:`ConvNet` has ``nn.Conv2d``,
``nn.Linear`` and ReLU in the same places. Both take ``input_shape = (C, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from metabnn.layers import BinaryConv2d
from metabnn.models import MLP, MODELS, BinaryMLP
from metabnn.quantizers import SignQuantizer

__all__ = ["BinaryConvNet", "ConvNet"]


class _ConvBase(nn.Module):
    def __init__(
        self,
        input_shape: Sequence[int],
        hidden: Sequence[int],
        out_features: int,
        channels: Sequence[int],
        track_running_stats: bool,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"a conv net needs image input (C, H, W), got {tuple(input_shape)}")
        c_in, h, w = input_shape
        if h >> (len(channels) // 2) < 1 or w >> (len(channels) // 2) < 1:
            raise ValueError(f"{len(channels) // 2} max-pools do not fit a {h}x{w} image")
        self.convs = nn.ModuleList()
        self.conv_norms = nn.ModuleList()
        for i, c in enumerate(channels):
            self.convs.append(self._make_conv(i, c_in, c))
            self.conv_norms.append(nn.BatchNorm2d(c, track_running_stats=track_running_stats))
            c_in = c
            if i % 2 == 1:
                h, w = h // 2, w // 2
        self.pool = nn.MaxPool2d(2)
        self.head = self._make_head(c_in * h * w, hidden, out_features, track_running_stats)

    def _make_conv(self, i: int, c_in: int, c_out: int) -> nn.Module:
        raise NotImplementedError

    def _make_head(self, in_features: int, hidden: Sequence[int], out_features: int,
                   track_running_stats: bool) -> nn.Module:
        raise NotImplementedError

    def _activation(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (conv, norm) in enumerate(zip(self.convs, self.conv_norms)):
            x = conv(x)  # (B, C_i, H_i, W_i)
            if i % 2 == 1:
                x = self.pool(x)  # (B, C_i, H_i / 2, W_i / 2)
            x = self._activation(norm(x))
        return self.head(x)  # (B, out_features) logits; the head flattens


@MODELS.register("bnn-conv", description="binary VGG-like conv net with BatchNorm (CIFAR)",
                 input="image", channels=(128, 128, 256, 256, 512, 512))
class BinaryConvNet(_ConvBase):
    """Binary conv net: ``BinaryConv2d -> [MaxPool] -> BatchNorm2d`` blocks, binary MLP head."""

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        hidden: Sequence[int] = (1024, 1024),
        out_features: int = 10,
        *,
        channels: Sequence[int] = (128, 128, 256, 256, 512, 512),
        track_running_stats: bool = False,
    ) -> None:
        super().__init__(input_shape, hidden, out_features, channels, track_running_stats)

    def _make_conv(self, i: int, c_in: int, c_out: int) -> nn.Module:
        return BinaryConv2d(c_in, c_out, 3, padding=1, bias=False,
                            input_quantizer=SignQuantizer() if i > 0 else None)

    def _make_head(self, in_features: int, hidden: Sequence[int], out_features: int,
                   track_running_stats: bool) -> nn.Module:
        return BinaryMLP(in_features, hidden, out_features,
                         track_running_stats=track_running_stats, binarize_input=True)


@MODELS.register("conv", description="full-precision twin (ReLU) of the binary conv net",
                 input="image", channels=(128, 128, 256, 256, 512, 512))
class ConvNet(_ConvBase):
    """Full-precision twin: ``Conv2d -> [MaxPool] -> BatchNorm2d -> ReLU``, ReLU MLP head."""

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        hidden: Sequence[int] = (1024, 1024),
        out_features: int = 10,
        *,
        channels: Sequence[int] = (128, 128, 256, 256, 512, 512),
        track_running_stats: bool = False,
    ) -> None:
        super().__init__(input_shape, hidden, out_features, channels, track_running_stats)

    def _make_conv(self, i: int, c_in: int, c_out: int) -> nn.Module:
        return nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)

    def _make_head(self, in_features: int, hidden: Sequence[int], out_features: int,
                   track_running_stats: bool) -> nn.Module:
        return MLP(in_features, hidden, out_features, track_running_stats=track_running_stats)

    def _activation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)
