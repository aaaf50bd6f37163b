import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from metabnn.layers import BinaryConv2d, BinaryLinear, binary_layers
from metabnn.quantizers import SignQuantizer


def _sign(x):
    return torch.where(x < 0, -1.0, 1.0)


def test_binary_linear_equals_linear_of_signs():
    g = torch.Generator().manual_seed(0)
    layer = BinaryLinear(7, 5, bias=True, input_quantizer=SignQuantizer())
    with torch.no_grad():
        layer.weight.copy_(torch.randn(5, 7, generator=g))
        layer.bias.copy_(torch.randn(5, generator=g))
    x = torch.randn(4, 7, generator=g)
    expected = F.linear(_sign(x), _sign(layer.weight), layer.bias)
    assert torch.equal(layer(x), expected)


def test_first_layer_input_is_not_binarized_by_default():
    layer = BinaryLinear(3, 2, bias=False)
    x = torch.tensor([[0.2, 0.7, 0.1]])
    assert torch.allclose(layer(x), F.linear(x, _sign(layer.weight)))


def test_binary_conv_equals_conv_of_signs():
    g = torch.Generator().manual_seed(1)
    layer = BinaryConv2d(3, 4, 3, padding=1, bias=False, input_quantizer=SignQuantizer())
    x = torch.randn(2, 3, 8, 8, generator=g)
    expected = F.conv2d(_sign(x), _sign(layer.weight), None, padding=1)
    assert torch.equal(layer(x), expected)


def test_gradient_reaches_hidden_weight_unchanged():
    layer = BinaryLinear(3, 1, bias=False)
    x = torch.tensor([[1.0, -2.0, 0.5]])
    layer(x).sum().backward()
    # y = sum_i x_i sign(W_i): dL/dsign(W) = x, passed to W_h by the identity STE
    assert torch.equal(layer.weight.grad, x)


@pytest.mark.parametrize("ours, theirs", [(BinaryLinear, nn.Linear), (BinaryConv2d, nn.Conv2d)])
def test_signature_mirrors_torch(ours, theirs):
    mine = inspect.signature(ours.__init__).parameters
    torch_params = inspect.signature(theirs.__init__).parameters
    for name, p in torch_params.items():
        assert name in mine, name
        assert mine[name].default == p.default, name
    extra = set(mine) - set(torch_params)
    assert extra == {"input_quantizer", "kernel_quantizer"}


def test_binary_layers_lists_binary_modules_only():
    model = nn.Sequential(
        BinaryLinear(2, 2), nn.BatchNorm1d(2), BinaryLinear(2, 2), nn.Linear(2, 2)
    )
    assert [name for name, _ in binary_layers(model)] == ["0", "2"]
