"""metabnn: continual-learning benchmarks for synaptic metaplasticity in binarized networks.

The core (layers, optimizer, metrics, configs) imports without Avalanche; the Avalanche
strategy and plugins load on first access (``metabnn.MetaplasticStrategy``) because importing
Avalanche takes seconds.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from metabnn.bayes import BinaryBayesMLP, GaussianMLP  # also enrols them in MODELS
from metabnn.bayes_optim import MESU, BiMU
from metabnn.config import RunConfig, stamp
from metabnn.convnets import BinaryConvNet, ConvNet  # also enrols them in MODELS
from metabnn.convnets1d import BinaryConv1dNet, Conv1dNet, HybridConv1dNet  # enrols them too
from metabnn.layers import BinaryConv2d, BinaryLayer, BinaryLinear
from metabnn.metaplasticity import consolidation_mask, f_meta, metaplastic_scale
from metabnn.metrics import average_accuracy, backward_transfer, forgetting, learning_accuracy
from metabnn.models import MLP, BinaryMLP
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups
from metabnn.quantizers import SignQuantizer, WeightSignQuantizer, sign_ste

__version__ = "0.1.0"

__all__ = [
    "BinaryConv1dNet",
    "Conv1dNet",
    "HybridConv1dNet",
    "BiMU",
    "BinaryBayesMLP",
    "GaussianMLP",
    "MESU",
    "BinaryConv2d",
    "BinaryConvNet",
    "BinaryLayer",
    "BinaryLinear",
    "BinaryMLP",
    "MLP",
    "ConvNet",
    "MetaplasticAdam",
    "MetaplasticStrategy",
    "RunConfig",
    "SignQuantizer",
    "WeightSignQuantizer",
    "average_accuracy",
    "backward_transfer",
    "consolidation_mask",
    "f_meta",
    "forgetting",
    "learning_accuracy",
    "metaplastic_param_groups",
    "metaplastic_scale",
    "sign_ste",
    "stamp",
]

_LAZY = {"MetaplasticStrategy": "metabnn.strategies"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'metabnn' has no attribute {name!r}")
