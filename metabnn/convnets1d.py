"""1-D convolutional networks for biosignals (ECG, EEG) in three precisions.

Every network is ``len(channels)`` blocks ``conv(kernel 5, padding 2, no bias) -> MaxPool1d(2) ->
BatchNorm1d -> activation`` over an input of shape ``(C, L)``, then a classifier MLP ``hidden``
-> ``out`` on the flattened ``channels[-1] x L / 2^len(channels)`` features:

* ``bnn-1d`` — **fully binary**: :class:`~metabnn.layers.BinaryConv1d` blocks (the first sees the
  real signal, the others the sign of the previous block, as the binary conv net of Hubara et
  al. 2016) and the binary MLP classifier (:class:`~metabnn.models.BinaryMLP`, binarized input);
* ``hybrid-1d`` — **binary classifier** on a full-precision feature extractor (``nn.Conv1d``,
  ReLU between blocks; the classifier binarizes the last block's BatchNorm output): only the
  classifier's weights and activations are binary;
* ``cnn-1d`` — **full precision**: ``nn.Conv1d``, ReLU and the ReLU MLP classifier.

This is the memory–accuracy trade-off Penkovsky, Bocquet, Hirtzlin et al. study for hybrid
CMOS/hafnium-oxide RRAM BNNs on electrocardiography and electroencephalography ("In-memory
resistive RAM implementation of binarized neural networks for medical applications", DATE 2020,
arXiv 2006.11595): binarizing the whole network against only the classifier, whose dense weights
hold most of the memory. MetaplasticAdam consolidates whatever
is binary; :func:`metabnn.memory.memory_footprint` counts each precision's bits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from metabnn.layers import BinaryConv1d
from metabnn.models import MLP, MODELS, BinaryMLP
from metabnn.quantizers import SignQuantizer

__all__ = ["BinaryConv1dNet", "HybridConv1dNet", "Conv1dNet", "DEFAULT_CHANNELS_1D"]

DEFAULT_CHANNELS_1D = (16, 32, 64)
"""Channels of the three conv blocks when ``model.channels`` is unset."""


class _Conv1dBase(nn.Module):
    binary_features = False
    binary_classifier = False

    def __init__(self, input_shape: Sequence[int] = (1, 256), hidden: Sequence[int] = (256,),
                 out_features: int = 4, *, channels: Sequence[int] = DEFAULT_CHANNELS_1D,
                 track_running_stats: bool = False) -> None:
        super().__init__()
        if len(input_shape) != 2:
            raise ValueError(f"a 1-D conv net needs signal input (C, L), got {tuple(input_shape)}")
        c_in, length = input_shape
        if length >> len(channels) < 1:
            raise ValueError(f"{len(channels)} max-pools do not fit a signal of {length} samples")
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i, c in enumerate(channels):
            if self.binary_features:
                conv: nn.Module = BinaryConv1d(c_in, c, 5, padding=2, bias=False,
                                               input_quantizer=SignQuantizer() if i else None)
            else:
                conv = nn.Conv1d(c_in, c, 5, padding=2, bias=False)
            self.convs.append(conv)
            self.norms.append(nn.BatchNorm1d(c, track_running_stats=track_running_stats))
            c_in, length = c, length // 2
        self.pool = nn.MaxPool1d(2)
        features = c_in * length
        self.head = (BinaryMLP(features, hidden, out_features,
                               track_running_stats=track_running_stats, binarize_input=True)
                     if self.binary_classifier
                     else MLP(features, hidden, out_features,
                              track_running_stats=track_running_stats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(self.pool(conv(x)))  # (B, C_i, L_i / 2)
            # binary blocks: the next one takes the sign; a binary classifier takes the sign of
            # the last block's BatchNorm output (after a ReLU, every sign would be +1)
            if not self.binary_features and not (self.binary_classifier and i == last):
                x = torch.relu(x)
        return self.head(x)  # (B, out_features) logits; the head flattens


_INFO = dict(input="signal", channels=DEFAULT_CHANNELS_1D)


@MODELS.register("bnn-1d", description="fully binary 1-D conv net (biosignals): binary "
                 "convolutions and binary classifier", **_INFO)
class BinaryConv1dNet(_Conv1dBase):
    binary_features = True
    binary_classifier = True


@MODELS.register("hybrid-1d", description="1-D conv net with a full-precision feature "
                 "extractor and a binary classifier (biosignals)", **_INFO)
class HybridConv1dNet(_Conv1dBase):
    binary_classifier = True


@MODELS.register("cnn-1d", description="full-precision 1-D conv net (biosignals), the twin of "
                 "bnn-1d", **_INFO)
class Conv1dNet(_Conv1dBase):
    """Full precision throughout (the base class with neither part binary)."""
