"""The CIFAR conv nets: shapes, where inputs are binarized, equivalence, twins, runner wiring."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from metabnn.config import ConfigError, RunConfig, from_dict
from metabnn.convnets import BinaryConvNet, ConvNet
from metabnn.layers import BinaryConv2d, BinaryLinear, binary_layers
from metabnn.models import MODELS, init_weights_
from metabnn.optim import metaplastic_param_groups
from metabnn.quantizers import SignQuantizer
from metabnn.runner import build_model

SMALL = {"channels": (4, 4, 8), "hidden": (16,)}


def test_shapes_and_layout():
    model = BinaryConvNet((3, 32, 32), SMALL["hidden"], 10, channels=SMALL["channels"])
    assert model(torch.randn(5, 3, 32, 32)).shape == (5, 10)
    # one pool after the 2nd conv: 32 -> 16; the head sees 8 channels x 16 x 16
    assert model.head.layers[0].in_features == 8 * 16 * 16
    convs = [m for _, m in binary_layers(model) if isinstance(m, BinaryConv2d)]
    dense = [m for _, m in binary_layers(model) if isinstance(m, BinaryLinear)]
    assert len(convs) == 3 and len(dense) == 2
    assert convs[0].input_quantizer is None  # the real image goes into the first layer
    assert all(isinstance(m.input_quantizer, SignQuantizer) for m in convs[1:] + dense)
    assert all(m.bias is None for m in convs + dense)


def test_hidden_activations_are_binary_and_conv_equals_sign_conv():
    model = BinaryConvNet((3, 8, 8), (6,), 4, channels=(3, 5))
    seen = []
    model.convs[1].register_forward_hook(lambda mod, inp, out: seen.append((inp[0], out)))
    model(torch.randn(4, 3, 8, 8))
    x, out = seen[0]
    assert set(torch.sign(x).unique().tolist()) <= {-1.0, 1.0}
    w = model.convs[1].weight
    expected = F.conv2d(torch.where(x >= 0, 1.0, -1.0), torch.where(w >= 0, 1.0, -1.0), padding=1)
    assert torch.allclose(out, expected)


def test_full_precision_twin_has_the_same_shape_and_seeded_weights():
    def weights(cls):
        model = cls((3, 16, 16), (8,), 10, channels=(4, 4))
        init_weights_(model, 0.05, torch.Generator().manual_seed(0))
        return model, [p.detach().clone() for n, p in model.named_parameters()
                       if n.endswith("weight") and p.dim() > 1]

    binary, wb = weights(BinaryConvNet)
    twin, wf = weights(ConvNet)
    assert not binary_layers(twin)
    assert all(torch.equal(a, b) for a, b in zip(wb, wf)) and len(wb) == 4
    out = twin(torch.randn(3, 3, 16, 16))
    assert out.shape == (3, 10) and torch.isfinite(out).all()


def test_metaplasticity_covers_every_binary_weight():
    model = BinaryConvNet((3, 32, 32), SMALL["hidden"], 10, channels=SMALL["channels"])
    groups = metaplastic_param_groups(model, 1.3)
    hidden = {id(p) for g in groups if g["meta"] > 0 for p in g["params"]}
    assert hidden == {id(m.weight) for _, m in binary_layers(model)}


def test_runner_builds_conv_nets_from_image_shapes():
    config = from_dict(RunConfig, {"model": {"name": "bnn-conv", "channels": [4, 4],
                                             "hidden": [8]}})
    model = build_model(config, (3, 32, 32), 10)
    assert isinstance(model, BinaryConvNet) and model.convs[1].out_channels == 4
    twin = build_model(dataclasses.replace(
        config, model=dataclasses.replace(config.model, name="conv")), (3, 32, 32), 10)
    assert isinstance(twin, ConvNet)
    with pytest.raises(ConfigError, match="needs images"):
        build_model(config, (784,), 10)
    assert MODELS.entry("bnn-conv").info["input"] == "image"


def test_too_many_pools_for_the_image_is_refused():
    with pytest.raises(ValueError, match="max-pools"):
        BinaryConvNet((1, 4, 4), (8,), 10, channels=(2, 2, 2, 2, 2, 2))
