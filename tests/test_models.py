import torch

from metabnn.models import MLP, BinaryMLP, batchnorm_state, init_weights_, load_batchnorm_state


def test_shapes_and_binary_hidden_activations():
    model = BinaryMLP(784, (32, 16), 10)
    captured = []
    model.layers[1].register_forward_pre_hook(
        lambda mod, inp: captured.append(mod.input_quantizer(inp[0]))
    )
    out = model(torch.rand(8, 1, 28, 28))
    assert out.shape == (8, 10)
    assert set(captured[0].unique().tolist()) <= {-1.0, 1.0}
    assert model.layers[0].input_quantizer is None  # real image into the first layer


def test_init_is_seeded_uniform_and_shared_by_twins():
    def weights(cls, seed):
        model = init_weights_(cls(20, (8,), 3), 0.05, torch.Generator().manual_seed(seed))
        return torch.cat([layer.weight.flatten() for layer in model.layers])

    w = weights(BinaryMLP, 0)
    assert w.abs().max() <= 0.05 and w.abs().max() > 0.04
    assert torch.equal(w, weights(BinaryMLP, 0))
    assert torch.equal(w, weights(MLP, 0))  # same seed, same initial weights for the twin
    assert not torch.equal(w, weights(BinaryMLP, 1))


def test_batchnorm_state_round_trip_keeps_parameter_identity():
    model = BinaryMLP(10, (6,), 3, track_running_stats=True)
    saved = batchnorm_state(model)
    params = [id(p) for p in model.parameters()]
    with torch.no_grad():
        model.norms[0].weight.fill_(3.0)
        model.norms[0].running_mean.fill_(1.0)
    load_batchnorm_state(model, saved)
    assert torch.equal(model.norms[0].weight, torch.ones(6))
    assert torch.equal(model.norms[0].running_mean, torch.zeros(6))
    assert params == [id(p) for p in model.parameters()]
