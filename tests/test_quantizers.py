import torch

from metabnn.quantizers import SignQuantizer, binarize, sign_identity_ste, sign_ste


def test_forward_is_strictly_binary_with_sign0_plus_one():
    x = torch.tensor([-2.0, -0.3, 0.0, 0.4, 3.0])
    assert sign_ste(x).tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    assert set(binarize(torch.randn(1000)).unique().tolist()) == {-1.0, 1.0}


def test_activation_ste_gradient_is_clipped_identity():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], requires_grad=True)
    upstream = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    sign_ste(x).backward(upstream)
    # d sign / dx := 1_{|x| <= 1}: zero outside [-1, 1], the upstream gradient inside
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]


def test_weight_ste_gradient_is_identity():
    w = torch.tensor([-3.0, 0.2, 5.0], requires_grad=True)
    upstream = torch.tensor([0.5, -1.0, 2.0])
    sign_identity_ste(w).backward(upstream)
    assert torch.equal(w.grad, upstream)


def test_quantizer_module_precision():
    q = SignQuantizer()
    assert q.precision == 1
    assert torch.equal(q(torch.tensor([0.2, -0.2])), torch.tensor([1.0, -1.0]))


def test_sign_zero_keeps_exact_zeros_as_the_authors_code_does():
    """``zero="zero"``: sign(0) = 0 (torch.sign, the authors' code); the default maps +0 to +1
    and an exact -0.0 to -1 (copysign). Gradients are the same estimators either way."""
    x = torch.tensor([-2.0, -0.0, 0.0, 0.5, 3.0], requires_grad=True)
    assert binarize(x.detach()).tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    assert binarize(x.detach(), "zero").tolist() == [-1.0, 0.0, 0.0, 1.0, 1.0]
    sign_ste(x, "zero").sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # |x| <= 1 passes, as with +1
    w = torch.tensor([0.0, -0.3], requires_grad=True)
    out = sign_identity_ste(w, "zero")
    assert out.tolist() == [0.0, -1.0]
    out.sum().backward()
    assert w.grad.tolist() == [1.0, 1.0]


def test_a_batchnorm_output_at_its_batch_mean_reaches_the_next_layer_as_zero_only_if_asked():
    """By hand: one input feature with values 1, 2, 3 through a +1 weight; BatchNorm (train
    mode, weight 1, bias 0) maps the middle sample to exactly 0. With sign_zero="zero" the next
    layer sees 0 there (its output is 0); with the default it sees +1 (its output is the sum
    of its binary weights)."""
    from metabnn.models import BinaryMLP

    x = torch.tensor([[1.0], [2.0], [3.0]])
    outs = {}
    for zero in ("plus-one", "zero"):
        model = BinaryMLP(1, (1,), 2, sign_zero=zero)
        with torch.no_grad():
            model.layers[0].weight.fill_(0.5)  # sign +1
            model.layers[1].weight.copy_(torch.tensor([[0.2], [-0.7]]))  # signs +1, -1
            for norm in model.norms:
                norm.weight.fill_(1.0)
                norm.bias.zero_()
        model.train()
        seen: list[torch.Tensor] = []
        for module in (model.norms[0], model.layers[1]):
            module.register_forward_hook(lambda _m, _i, o, seen=seen: seen.append(o.detach()))
        model(x)
        assert seen[0][1, 0].item() == 0.0  # exactly the batch mean
        outs[zero] = seen[1][1].tolist()  # the middle sample's pre-BatchNorm output of layer 1
        assert model.layers[1].input_quantizer.zero == zero
        assert model.layers[1].kernel_quantizer.zero == zero
    assert outs["zero"] == [0.0, 0.0]
    assert outs["plus-one"] == [1.0, -1.0]
