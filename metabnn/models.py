"""Reference networks: the binary MLP of Laborieux et al. (2021) and its full-precision twin.

Binary MLP ``in-H1-...-Hn-out`` (reference code ``BNN``): every layer is a
:class:`~metabnn.layers.BinaryLinear` without bias followed by ``BatchNorm1d``; layer ``k > 1``
binarizes its input with the clipped STE (the sign activation); the first layer sees the real
image (pixels in [0, 1]). Hidden weights start uniform in ``[-init_width, init_width]`` (reference
``--init uniform --init-width 0.1``, i.e. half-width 0.05). ``track_running_stats=False`` (the
reference's current setting) makes BatchNorm use batch statistics in evaluation too.

The full-precision twin has the same shape with ``nn.Linear`` and ReLU.

Per-task BatchNorm states (:func:`batchnorm_state`, :func:`load_batchnorm_state`) implement the
paper's task-incremental protocol: the BN parameters and statistics are saved after each task and
restored when that task is tested.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from metabnn.layers import BinaryLinear
from metabnn.quantizers import SignQuantizer, WeightSignQuantizer
from metabnn.registry import Registry

__all__ = [
    "MODELS",
    "BinaryMLP",
    "MLP",
    "PlainMLP",
    "init_weights_",
    "batchnorm_state",
    "load_batchnorm_state",
]

MODELS: Registry[type[nn.Module]] = Registry("model")

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


class _MLPBase(nn.Module):
    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        track_running_stats: bool,
    ) -> None:
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.layers.append(self._make_layer(k, fan_in, fan_out))
            self.norms.append(nn.BatchNorm1d(fan_out, track_running_stats=track_running_stats))

    def _make_layer(self, k: int, fan_in: int, fan_out: int) -> nn.Module:
        raise NotImplementedError

    def _activation(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, in_features)
        last = len(self.layers) - 1
        for k, (layer, norm) in enumerate(zip(self.layers, self.norms)):
            x = norm(layer(x))
            if k < last:
                x = self._activation(x)
        return x  # (B, out_features) logits


@MODELS.register("bnn", description="binary MLP with BatchNorm (Laborieux et al. 2021)",
                 sign_zero=True)
class BinaryMLP(_MLPBase):
    """Binary MLP: ``BinaryLinear -> BatchNorm1d`` per layer, sign activations between layers.

    ``sign_zero``: what sign(0) is for its activations and weights
    (:data:`metabnn.quantizers.SIGN_ZERO`; ``zero`` is the authors' code)."""

    def __init__(
        self,
        in_features: int = 784,
        hidden: Sequence[int] = (1024, 1024),
        out_features: int = 10,
        *,
        track_running_stats: bool = False,
        binarize_input: bool = False,
        sign_zero: str = "plus-one",
    ) -> None:
        self.binarize_input, self.sign_zero = binarize_input, sign_zero
        super().__init__(in_features, hidden, out_features, track_running_stats)

    def _make_layer(self, k: int, fan_in: int, fan_out: int) -> nn.Module:
        quantize = k > 0 or self.binarize_input
        return BinaryLinear(
            fan_in, fan_out, bias=False,
            input_quantizer=SignQuantizer(self.sign_zero) if quantize else None,
            kernel_quantizer=WeightSignQuantizer(self.sign_zero),
        )


@MODELS.register("mlp", description="full-precision MLP twin (ReLU) of the binary MLP")
class MLP(_MLPBase):
    """Full-precision twin: ``Linear -> BatchNorm1d -> ReLU`` per hidden layer."""

    def __init__(
        self,
        in_features: int = 784,
        hidden: Sequence[int] = (1024, 1024),
        out_features: int = 10,
        *,
        track_running_stats: bool = False,
    ) -> None:
        super().__init__(in_features, hidden, out_features, track_running_stats)

    def _make_layer(self, k: int, fan_in: int, fan_out: int) -> nn.Module:
        return nn.Linear(fan_in, fan_out, bias=False)

    def _activation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


@MODELS.register("mlp-nobn", description="plain MLP: Linear (with bias) -> ReLU, no BatchNorm "
                 "(the literature's baseline network, van de Ven & Tolias 2019)",
                 batchnorm=False, init="pytorch")
class PlainMLP(nn.Module):
    """``Linear -> ReLU`` per hidden layer, a linear output, biases, no BatchNorm; initialised as
    PyTorch's ``nn.Linear`` (:func:`init_weights_` with ``scheme="pytorch"``)."""

    def __init__(
        self,
        in_features: int = 784,
        hidden: Sequence[int] = (400, 400),
        out_features: int = 10,
        *,
        track_running_stats: bool = False,  # accepted for the common signature; no BatchNorm
    ) -> None:
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, in_features)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)  # (B, out_features) logits


@torch.no_grad()
def init_weights_(model: nn.Module, width: float, generator: torch.Generator, *,
                  bn_weight: str = "uniform", scheme: str = "uniform") -> nn.Module:
    """Weights of every Linear/Conv layer ~ U[-width, width], biases 0 (``scheme="uniform"``,
    the paper's reference code) or weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    (``scheme="pytorch"``: ``nn.Linear``'s own init, the literature's MLPs), or the model's
    ``init_(generator)`` (``scheme="own"``); BatchNorm weights
    ~ U(0, 1) (``bn_weight="uniform"``: PyTorch 1.1.0's init, which the paper's results were
    made with) or 1 (``"ones"``: PyTorch >= 1.2's, which the authors' code gets on a current
    PyTorch), BatchNorm biases 0.

    Draws from ``generator`` in module order, so the same seed gives the same network for the
    binary model and every strategy that uses it.
    """
    if bn_weight not in ("uniform", "ones"):
        raise ValueError(f"bn_weight={bn_weight!r} is invalid: use uniform or ones")
    if scheme not in ("uniform", "pytorch", "own"):
        raise ValueError(f"scheme={scheme!r} is invalid: use uniform, pytorch or own")
    if scheme == "own":  # a model with its own published init (e.g. the Bayesian nets)
        return model.init_(generator)  # type: ignore[operator]
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            bound = width if scheme == "uniform" else fan_in ** -0.5
            module.weight.copy_(
                torch.rand(module.weight.shape, generator=generator) * (2 * bound) - bound
            )
            if module.bias is not None and scheme == "uniform":
                module.bias.zero_()
            elif module.bias is not None:
                module.bias.copy_(
                    torch.rand(module.bias.shape, generator=generator) * (2 * bound) - bound)
        elif isinstance(module, _BN_TYPES):
            module.reset_parameters()
            if bn_weight == "uniform" and module.weight is not None:
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator))
    return model


def batchnorm_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every BatchNorm tensor (affine parameters and running statistics)."""
    return {
        f"{name}.{key}": value.detach().clone()
        for name, module in model.named_modules()
        if isinstance(module, _BN_TYPES)
        for key, value in module.state_dict().items()
    }


@torch.no_grad()
def load_batchnorm_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy a :func:`batchnorm_state` back into ``model`` in place (parameters keep identity)."""
    targets = {
        f"{name}.{key}": value
        for name, module in model.named_modules()
        if isinstance(module, _BN_TYPES)
        for key, value in module.state_dict(keep_vars=True).items()
    }
    if targets.keys() != state.keys():
        raise ValueError("BatchNorm state does not match the model's BatchNorm layers")
    for key, value in state.items():
        targets[key].data.copy_(value)
