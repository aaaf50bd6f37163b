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
