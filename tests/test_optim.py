import copy

import pytest
import torch
from torch import nn

from metabnn.layers import BinaryLinear
from metabnn.models import BinaryMLP
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups

BEFORE, AFTER = "before-bias-correction", "after-bias-correction"


@pytest.mark.parametrize("placement", [BEFORE, AFTER])
def test_one_step_equals_hand_computed_step_with_asymmetry(placement):
    # First Adam step: m_1 = (1 - b1) g, v_1 = (1 - b2) g^2. After the bias correction the
    # update is -lr g / (|g| + eps); before it, -lr sqrt(1 - b2) / (1 - b1) * m_1 /
    # (sqrt(v_1) + eps) = -lr g / (|g| + eps / sqrt(1 - b2)). eps = 1e-3 makes the two differ
    # far above float64 rounding.
    lr, eps, m = 0.1, 1e-3, 1.35
    w = torch.nn.Parameter(torch.tensor([0.5, -0.5, 0.5, 0.0, 1.0], dtype=torch.float64))
    w.grad = torch.tensor([1.0, 1.0, -1.0, 1.0, 2.0], dtype=torch.float64)
    opt = MetaplasticAdam([{"params": [w], "meta": m}], lr=lr, eps=eps, weight_decay=0.0,
                          eps_placement=placement)
    opt.step()
    # 1 - tanh^2(x) = 1 / cosh^2(x): cosh(0.675) = 1.236594698..., cosh(1.35) = 2.058332896...
    f05 = 0.653951047262  # 1 - tanh^2(1.35 * 0.5)
    f10 = 0.236030849936  # 1 - tanh^2(1.35 * 1.0)
    e = eps if placement == AFTER else eps / 0.001**0.5  # sqrt(1 - 0.999)
    expected = [
        0.5 - lr * f05 / (1 + e),  # step toward zero: scaled
        -0.5 - lr / (1 + e),  # grows |W|: unscaled
        0.5 + lr / (1 + e),  # grows |W|: unscaled
        0.0 - lr / (1 + e),  # sign(0) = 0: never consolidated
        1.0 - lr * f10 * 2 / (2 + e),  # toward zero from 1.0: scaled by f(1.0)
    ]
    assert torch.allclose(w.detach(), torch.tensor(expected, dtype=torch.float64), rtol=0,
                          atol=1e-9)


@pytest.mark.parametrize("placement", [BEFORE, AFTER])
def test_second_step_bias_correction_and_weight_decay(placement):
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-3, 0.1
    w = torch.nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    opt = MetaplasticAdam([{"params": [w], "meta": 0.0}], lr=lr, weight_decay=wd, eps=eps,
                          eps_placement=placement)
    state_m = state_v = 0.0
    value = 2.0
    for t, g in enumerate([0.3, -0.7], start=1):
        w.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        g_eff = g + wd * value
        state_m = b1 * state_m + (1 - b1) * g_eff
        state_v = b2 * state_v + (1 - b2) * g_eff**2
        if placement == AFTER:  # Kingma & Ba, Algorithm 1
            m_hat, v_hat = state_m / (1 - b1**t), state_v / (1 - b2**t)
            value -= lr * m_hat / (v_hat**0.5 + eps)
        else:  # Kingma & Ba, Sec. 2's efficient form (PyTorch 1.1.0's Adam, the authors')
            value -= lr * (1 - b2**t) ** 0.5 / (1 - b1**t) * state_m / (state_v**0.5 + eps)
    assert abs(w.item() - value) < 1e-12


def test_the_authors_eps_placement_is_the_default_and_the_two_differ():
    assert MetaplasticAdam([torch.nn.Parameter(torch.zeros(1))]).defaults[
        "eps_placement"] == BEFORE
    from metabnn.config import OptimConfig

    assert OptimConfig().eps_placement == BEFORE
    ws = []
    for placement in (BEFORE, AFTER):
        w = torch.nn.Parameter(torch.tensor([0.3]))
        w.grad = torch.tensor([1e-6])  # a rarely active input: sqrt(v) near eps
        MetaplasticAdam([w], eps_placement=placement).step()
        ws.append(w.item())
    assert ws[0] != ws[1]
    with pytest.raises(ValueError, match="eps_placement must be one of"):
        MetaplasticAdam([torch.nn.Parameter(torch.zeros(1))], eps_placement="middle")


def test_meta_zero_after_bias_correction_is_torch_adam_bitwise_over_20_steps():
    torch.manual_seed(0)
    model = BinaryMLP(20, (16, 16), 4)
    twin = copy.deepcopy(model)
    ours = MetaplasticAdam(metaplastic_param_groups(model, 0.0), lr=0.005, weight_decay=1e-7,
                           eps_placement=AFTER)
    ref = torch.optim.Adam(twin.parameters(), lr=0.005, weight_decay=1e-7, foreach=False)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        x = torch.randn(32, 20, generator=g)
        y = torch.randint(0, 4, (32,), generator=g)
        for net, opt in ((model, ours), (twin, ref)):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.allclose(a, b, atol=1e-6, rtol=0)


def test_meta_changes_training_only_on_hidden_weights():
    torch.manual_seed(0)
    model = BinaryMLP(8, (6,), 3)
    groups = metaplastic_param_groups(model, 1.35)
    metas = {g["name"]: g["meta"] for g in groups}
    assert metas == {"layers.0": 1.35, "layers.1": 1.35, "other": 0.0}
    other = next(g for g in groups if g["name"] == "other")["params"]
    assert {id(p) for p in other} == {id(p) for n in model.norms for p in n.parameters()}


def test_per_layer_meta_mapping_and_unknown_layer():
    model = BinaryMLP(8, (6,), 3)
    groups = metaplastic_param_groups(model, {"layers.0": 2.0})
    assert [g["meta"] for g in groups] == [2.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="layers.7"):
        metaplastic_param_groups(model, {"layers.7": 1.0})


def test_hidden_weights_are_not_clipped():
    w = torch.nn.Parameter(torch.tensor([5.0]))
    opt = MetaplasticAdam([{"params": [w], "meta": 1.0}], lr=1.0, weight_decay=0.0)
    for _ in range(3):
        w.grad = torch.tensor([-1.0])  # pushes W up, away from zero: unscaled
        opt.step()
    assert w.item() > 7.9


def test_state_dict_round_trip_with_weights_only(tmp_path):
    layer = BinaryLinear(4, 3)
    opt = MetaplasticAdam(metaplastic_param_groups(layer, 1.0))
    layer(torch.ones(2, 4)).sum().backward()
    opt.step()
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    fresh = MetaplasticAdam(metaplastic_param_groups(layer, 1.0))
    fresh.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    assert fresh.state_dict()["state"][0]["step"] == 1


def test_rejects_negative_meta():
    with pytest.raises(ValueError, match="meta"):
        MetaplasticAdam([torch.nn.Parameter(torch.zeros(1))], meta=-1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_step_matches_cpu():
    g = torch.Generator().manual_seed(0)
    w_cpu = torch.nn.Parameter(torch.randn(100, generator=g))
    grad = torch.randn(100, generator=g)
    w_gpu = torch.nn.Parameter(w_cpu.detach().cuda())
    for w, gr in ((w_cpu, grad), (w_gpu, grad.cuda())):
        w.grad = gr
        MetaplasticAdam([{"params": [w], "meta": 1.35}]).step()
    assert torch.allclose(w_cpu, w_gpu.cpu(), atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fused_cuda_step_matches_cpu():
    """The compiled step's scalars live on the parameter's device."""
    g = torch.Generator().manual_seed(7)
    w_cpu = torch.nn.Parameter(torch.randn(100, generator=g))
    grad = torch.randn(100, generator=g)
    w_gpu = torch.nn.Parameter(w_cpu.detach().cuda())
    for w, gr, fused in ((w_cpu, grad, False), (w_gpu, grad.cuda(), True)):
        w.grad = gr
        MetaplasticAdam([{"params": [w], "meta": 1.35}], fused=fused).step()
    assert torch.allclose(w_cpu, w_gpu.cpu(), atol=1e-6)


@pytest.mark.parametrize("placement", [BEFORE, AFTER])
def test_fused_step_equals_reference_step(placement):
    g = torch.Generator().manual_seed(3)
    shapes = [(33, 17), (40,), (5, 3, 2)]
    params = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    twins = [torch.nn.Parameter(p.detach().clone()) for p in params]
    groups = lambda ps: [{"params": ps[:1], "meta": 1.35}, {"params": ps[1:], "meta": 0.0}]  # noqa: E731
    ref = MetaplasticAdam(groups(params), lr=0.01, weight_decay=1e-3, eps_placement=placement)
    fused = MetaplasticAdam(groups(twins), lr=0.01, weight_decay=1e-3, fused=True,
                            eps_placement=placement)
    for _ in range(5):
        grads = [torch.randn(s, generator=g) for s in shapes]
        for ps, opt in ((params, ref), (twins, fused)):
            for p, gr in zip(ps, grads):
                p.grad = gr.clone()
            opt.step()
    for a, b in zip(params, twins):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("placement", [BEFORE, AFTER])
def test_multi_tensor_step_equals_per_parameter_step_bitwise(placement):
    # Per-layer m (two values and 0), per-group lr, a second bucket with other betas, a parameter
    # without a gradient: the foreach path must do exactly the per-parameter arithmetic.
    g = torch.Generator().manual_seed(4)
    shapes = [(33, 17), (20, 9), (40,), (5, 3, 2), (7,)]
    params = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    twins = [torch.nn.Parameter(p.detach().clone()) for p in params]

    def groups(ps):
        return [{"params": ps[:1], "meta": 1.35}, {"params": ps[1:2], "meta": 3.0, "lr": 0.02},
                {"params": ps[2:4], "meta": 0.0}, {"params": ps[4:], "betas": (0.5, 0.9),
                                                   "eps_placement": AFTER}]

    ref = MetaplasticAdam(groups(params), lr=0.01, weight_decay=1e-3, foreach=False,
                          eps_placement=placement)
    multi = MetaplasticAdam(groups(twins), lr=0.01, weight_decay=1e-3, foreach=True,
                            eps_placement=placement)
    for step in range(6):
        grads = [torch.randn(s, generator=g) for s in shapes]
        for ps, opt in ((params, ref), (twins, multi)):
            for i, (p, gr) in enumerate(zip(ps, grads)):
                p.grad = None if (i == 3 and step == 2) else gr.clone()
            opt.step()
    for a, b in zip(params, twins):
        assert torch.equal(a, b)
    for a, b in zip(ref.state.values(), multi.state.values()):
        assert a["step"] == b["step"] and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    assert ref.state[params[3]]["step"] == 5


def test_multi_tensor_is_the_default_on_cuda_only_and_excludes_fused():
    cpu = MetaplasticAdam([torch.nn.Parameter(torch.zeros(2))])
    assert not cpu._use_foreach()
    with pytest.raises(ValueError, match="pick one"):
        MetaplasticAdam([torch.nn.Parameter(torch.zeros(2))], foreach=True, fused=True)
    if torch.cuda.is_available():
        assert MetaplasticAdam([torch.nn.Parameter(torch.zeros(2, device="cuda"))])._use_foreach()


# The tests below were added for survivors of the mutation run (scripts/mutation.sh).


def test_defaults_are_the_papers_protocol_and_reach_groups_without_their_own():
    w = torch.nn.Parameter(torch.zeros(2))
    assert MetaplasticAdam([w]).defaults == {
        "lr": 0.005, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-7, "meta": 0.0,
        "eps_placement": BEFORE}
    opt = MetaplasticAdam([{"params": [w]}], meta=1.35)
    assert opt.param_groups[0]["meta"] == 1.35


@pytest.mark.parametrize("kwargs", [
    {"lr": 0.0}, {"betas": (0.0, 0.0)}, {"betas": (0.999999, 0.999999)}, {"meta": 0.0}])
def test_boundary_hyperparameters_are_accepted(kwargs):
    MetaplasticAdam([torch.nn.Parameter(torch.zeros(1))], **kwargs)


@pytest.mark.parametrize("kwargs,message", [
    ({"lr": -1e-12}, "lr must be >= 0, got -1e-12"),
    ({"betas": (1.0, 0.999)}, r"betas must lie in \[0, 1\), got \(1.0, 0.999\)"),
    ({"betas": (1.5, 0.999)}, "betas must lie"),
    ({"betas": (-0.1, 0.999)}, "betas must lie"),
    ({"betas": (0.9, 1.0)}, "betas must lie"),
    ({"betas": (0.9, 1.5)}, "betas must lie"),
    ({"betas": (0.9, -0.1)}, "betas must lie"),
    ({"eps_placement": "x"}, "^eps_placement must be one of before-bias-correction, "
                             "after-bias-correction, got 'x'$"),
    ({"foreach": True, "fused": True},
     "^foreach and fused are two implementations of one step: pick one$"),
])
def test_out_of_range_hyperparameters_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MetaplasticAdam([torch.nn.Parameter(torch.zeros(1))], **kwargs)


@pytest.mark.parametrize("flag,used,unused", [
    ({"foreach": True}, "_step_foreach", "_update"),
    ({"fused": True}, "_update_fused", "_update"),
    ({"foreach": False}, "_update", "_step_foreach"),
])
def test_each_flag_takes_its_implementation(flag, used, unused, monkeypatch):
    """The implementations give equal results, so only the path taken shows the flag works."""
    w = torch.nn.Parameter(torch.ones(3))
    opt = MetaplasticAdam([w], **flag)
    calls = []
    real = getattr(opt, used)

    def spy(*args, **kwargs):
        calls.append(1)
        if used != "_update_fused":  # compiling the kernel takes seconds; the path is the test
            real(*args, **kwargs)

    monkeypatch.setattr(opt, used, spy)
    monkeypatch.setattr(opt, unused, lambda *a, **k: pytest.fail(f"{unused} was called"))
    w.grad = torch.ones(3)
    opt.step()
    assert calls == [1]


@pytest.mark.parametrize("foreach", [False, True])
def test_weight_decay_of_one_is_torch_adams_l2(foreach):
    """weight_decay adds wd * W to the gradient (torch.optim.Adam's L2), for any value."""
    g = torch.Generator().manual_seed(5)
    w = torch.nn.Parameter(torch.randn(50, generator=g))
    twin = torch.nn.Parameter(w.detach().clone())
    ours = MetaplasticAdam([w], lr=0.01, weight_decay=1.0, eps_placement=AFTER, foreach=foreach)
    ref = torch.optim.Adam([twin], lr=0.01, weight_decay=1.0, foreach=False)
    for _ in range(5):
        grad = torch.randn(50, generator=g)
        for p, opt in ((w, ours), (twin, ref)):
            p.grad = grad.clone()
            opt.step()
    assert torch.allclose(w, twin, atol=1e-7, rtol=0)


def test_scratch_buffers_are_reused_and_follow_a_new_shape():
    w = torch.nn.Parameter(torch.ones(4))
    opt = MetaplasticAdam([w], foreach=False)
    first = opt._scratch(w)
    assert opt._scratch(w) is first
    w.data = torch.ones(2, 3)
    assert [b.shape for b in opt._scratch(w)] == [torch.Size([2, 3])] * 2


def test_layers_without_weights_are_never_consolidated():
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    groups = metaplastic_param_groups(net, 1.0, is_hidden=lambda m: not isinstance(
        m, nn.Sequential))
    assert [(g["name"], g["meta"]) for g in groups] == [("0", 1.0), ("other", 0.0)]


def test_fused_kernel_is_compiled_once_and_keeps_float64_scalars(monkeypatch):
    """From an empty cache, the compiled step is built on first use and reused; the step's
    scalars travel in the parameter's dtype (float64 here, checked to 1e-12)."""
    import metabnn.optim as optim

    monkeypatch.setattr(optim, "_COMPILED", [])
    g = torch.Generator().manual_seed(6)
    w = torch.nn.Parameter(torch.randn(30, generator=g, dtype=torch.float64))
    twin = torch.nn.Parameter(w.detach().clone())
    fused = MetaplasticAdam([{"params": [w], "meta": 1.35}], lr=0.01, fused=True)
    ref = MetaplasticAdam([{"params": [twin], "meta": 1.35}], lr=0.01)
    for _ in range(3):
        grad = torch.randn(30, generator=g, dtype=torch.float64)
        for p, opt in ((w, fused), (twin, ref)):
            p.grad = grad.clone()
            opt.step()
    assert len(optim._COMPILED) == 1
    assert torch.allclose(w, twin, atol=1e-12, rtol=0)
