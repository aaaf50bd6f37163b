"""Every registered strategy, end to end on a small real pMNIST stream, and the pieces the
metaplasticity paper's comparators rest on (EWC penalty, Fisher estimators, random
consolidation, Bop, full-precision metaplasticity, SI on CPU)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from metabnn.baselines import STRATEGIES, check_strategy, hyperparameters, strategy_table
from metabnn.baselines.bop import Bop, binarize_weights_, bop_param_groups
from metabnn.baselines.common import hidden_layer_predicate, hidden_weight_names
from metabnn.baselines.fisher import per_sample_fisher, shuffle_within_layers
from metabnn.cli import main
from metabnn.config import ConfigError, RunConfig, from_dict
from metabnn.models import MLP, BinaryMLP, init_weights_
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups
from metabnn.runner import run, validate

TINY = {
    "stream": {"name": "pmnist", "tasks": 2, "train_per_task": 1000, "test_per_task": 500},
    "model": {"hidden": [64, 64]},
    "train": {"epochs": 1},
}


def tiny(strategy: str, model: str = "bnn", **params) -> RunConfig:
    data = {**TINY, "strategy": strategy, "params": params,
            "model": {**TINY["model"], "name": model}}
    return from_dict(RunConfig, data)


def _run(config: RunConfig, data_root, out):
    return run(config, data_root=data_root, out_dir=out, progress=False, log=lambda s: None,
               record=False)


def _check_results(path, config: RunConfig, rows: int) -> dict:
    with open(path) as fh:
        res = json.load(fh)
    R = res["accuracy_matrix"]
    assert len(R) == rows and all(len(r) == 2 for r in R)
    assert all(0.0 <= a <= 1.0 for r in R for a in r)
    assert max(R[-1]) > 0.2  # it learnt something (chance 0.1; gdumb sees 200 images)
    s = res["strategy"]
    assert s["name"] == config.strategy
    assert s["hyperparameters"] == hyperparameters(config)
    assert isinstance(s["optimizer_reset"], str) and s["optimizer_reset"]
    assert 0.0 <= res["metrics"]["average_accuracy"] <= 1.0
    return res


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_runs_two_experiences(name, data_root, tmp_path):
    models = STRATEGIES.entry(name).info.get("models")  # e.g. mesu: its Gaussian MLP
    config = tiny(name, model=models[0] if models else "bnn")
    if models is not None and set(models) <= {"gaussian-mlp", "bayes-bnn"}:
        # the Bayesian rules take many small steps (their papers: batch size 1): 10 steps of
        # 100 images do not train a two-layer net, 30 train one hidden layer
        config = config.with_(model={"hidden": [64]}, train={"epochs": 3})
    res = _run(config, data_root, tmp_path)
    whole = STRATEGIES.entry(name).info.get("trains_on") == "stream"
    _check_results(res["path"], config, rows=1 if whole else 2)


@pytest.mark.parametrize("name", ["meta", "si", "joint"])
def test_full_precision_twin_runs(name, data_root, tmp_path):
    config = tiny(name, model="mlp")
    res = _run(config, data_root, tmp_path)
    _check_results(res["path"], config, rows=1 if name == "joint" else 2)


def test_same_seed_same_stream_and_init_for_every_strategy(data_root, tmp_path):
    # naive and ewc share everything up to the end of experience 0 (no penalty yet).
    a = _run(tiny("naive"), data_root, tmp_path)
    b = _run(tiny("ewc"), data_root, tmp_path)
    assert a["accuracy_matrix"][0] == b["accuracy_matrix"][0]


def test_parameters_are_checked_in_one_line():
    with pytest.raises(ConfigError, match="no such parameter.*ewc_lambda"):
        check_strategy(tiny("bnn-ewc", lamda=1.0))
    with pytest.raises(ConfigError, match="expected a number"):
        check_strategy(tiny("bnn-ewc", ewc_lambda="big"))
    with pytest.raises(ConfigError, match="one of separate, online"):
        check_strategy(tiny("ewc", mode="offline"))
    with pytest.raises(ConfigError, match="model.name='mlp' is invalid for strategy 'bop'"):
        validate(tiny("bop", model="mlp"))
    # the upper bounds run in every scenario (i.i.d. minibatches), Class-IL included
    check_strategy(validate(from_dict(RunConfig, {"strategy": "joint", "stream": {
        "name": "split-mnist", "scenario": "class"}})))
    assert hyperparameters(tiny("bnn-ewc", ewc_lambda=10))["ewc_lambda"] == 10.0


def test_list_strategies_prints_the_table(capsys):
    assert main(["list", "strategies"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == strategy_table()
    for name in STRATEGIES.names():
        assert f"\n{name}  —  " in "\n" + out
    assert "--param ewc_lambda" in out and "Laborieux et al. 2021" in out


# --- EWC -------------------------------------------------------------------------------------

def _model(seed: int = 0, cls=BinaryMLP) -> nn.Module:
    model = cls(20, (8,), 3)
    return init_weights_(model, 0.05, torch.Generator().manual_seed(seed))


def test_ewc_penalty_is_zero_at_the_anchor_and_positive_away():
    from types import SimpleNamespace

    from avalanche.training.utils import ParamData

    from metabnn.baselines.ewc_plugin import FisherEWCPlugin
    from metabnn.data import attach_tensors

    torch.manual_seed(0)
    model = _model()
    names = hidden_weight_names(model)
    plugin = FisherEWCPlugin(5000.0, fisher="per-sample", names=names)
    x, y = torch.rand(32, 20), torch.randint(0, 3, (32,))
    data = attach_tensors(SimpleNamespace(), x, y, torch.zeros(32, dtype=torch.long))
    # A (fake) experience 0: importances from data, anchors at the current weights.
    imps = plugin.compute_importances(model, None, None, data, "cpu", 16)
    assert set(imps) == set(names) and all(v.data.sum() > 0 for v in imps.values())
    plugin.importances[0] = imps
    plugin.saved_params[0] = {
        n: ParamData(n, p.shape, init_tensor=p.detach().clone())
        for n, p in model.named_parameters() if n in names
    }
    assert plugin.penalty(model, 1).item() == 0.0
    with torch.no_grad():
        model.layers[0].weight.add_(0.01)
        model.norms[0].weight.add_(1.0)  # not protected: no penalty for BatchNorm
    expected = 5000.0 * (imps["layers.0.weight"].data * 0.01**2).sum().item()
    assert plugin.penalty(model, 1).item() == pytest.approx(expected, rel=1e-4)
    assert expected > 0


def test_per_sample_fisher_equals_a_per_sample_loop():
    # Without BatchNorm nothing couples the samples: the hook estimator must equal the mean of
    # squared per-sample gradients computed one sample at a time.
    torch.manual_seed(0)
    from metabnn.layers import BinaryLinear
    from metabnn.quantizers import SignQuantizer

    model = nn.Sequential(nn.Linear(6, 5, bias=False), nn.Tanh(),
                          BinaryLinear(5, 3, bias=False, input_quantizer=SignQuantizer()))
    x, y = torch.randn(10, 6), torch.randint(0, 3, (10,))
    layers = {"0": model[0], "2": model[2]}
    got = per_sample_fisher(model, layers, x, y, batch_size=4)
    want = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for i in range(10):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        for n, p in model.named_parameters():
            want[n] += p.grad.square() / 10
    assert set(got) == {"0.weight", "2.weight"}
    for n in got:
        torch.testing.assert_close(got[n], want[n], rtol=1e-5, atol=1e-8)


def test_random_consolidation_keeps_each_layers_fisher_values():
    g = torch.Generator().manual_seed(3)
    fisher = {"a": torch.rand(4, 5), "b": torch.rand(7)}
    shuffled = shuffle_within_layers(fisher, g)
    for n, f in fisher.items():
        assert shuffled[n].shape == f.shape
        assert torch.equal(shuffled[n].flatten().sort().values, f.flatten().sort().values)
        assert not torch.equal(shuffled[n], f)  # moved (20! and 7! orders; seed fixed)
    again = shuffle_within_layers(fisher, torch.Generator().manual_seed(3))
    assert all(torch.equal(again[n], shuffled[n]) for n in fisher)  # seeded


# --- Bop -------------------------------------------------------------------------------------

def test_bop_step_flips_exactly_the_weights_it_should():
    w = nn.Parameter(torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0]))
    opt = Bop([{"params": [w], "bop": True}], gamma=0.5, threshold=0.1)
    w.grad = torch.tensor([1.0, 1.0, -1.0, 0.1, -0.4])
    opt.step()
    # m = 0.5 g = [0.5, 0.5, -0.5, 0.05, -0.2]: flip where |m| > 0.1 and sign(m) == sign(w):
    # index 0 (+,+) and index 4 (-,-); index 1 and 2 disagree; index 3 is under threshold.
    assert w.tolist() == [-1.0, -1.0, 1.0, -1.0, 1.0]
    w.grad = torch.zeros(5)
    opt.step()  # m halves to [0.25, 0.25, -0.25, 0.025, -0.1]; now w0 = -1 disagrees: no flips
    assert w.tolist() == [-1.0, -1.0, 1.0, -1.0, 1.0]


def test_bop_trains_binary_weights_directly_and_bn_with_adam():
    model = binarize_weights_(_model())
    groups = bop_param_groups(model)
    assert [g["bop"] for g in groups] == [True, True, False]
    for g in groups[:2]:
        assert set(g["params"][0].unique().tolist()) <= {-1.0, 1.0}
    opt = Bop(groups, gamma=1e-2, threshold=1e-6)
    x, y = torch.rand(16, 20), torch.randint(0, 3, (16,))
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    for g in groups[:2]:
        assert set(g["params"][0].unique().tolist()) <= {-1.0, 1.0}  # still binary


# --- full-precision metaplasticity ---------------------------------------------------------

def test_fp_metaplastic_optimizer_with_m_0_equals_adam():
    a, b = _model(cls=MLP), _model(cls=MLP)
    predicate = hidden_layer_predicate(a)
    assert predicate(a.layers[0]) and not predicate(a.norms[0])
    ours = MetaplasticAdam(metaplastic_param_groups(a, 0.0, is_hidden=predicate), lr=0.01,
                           weight_decay=1e-7, eps_placement="after-bias-correction")
    adam = torch.optim.Adam(b.parameters(), lr=0.01, weight_decay=1e-7)
    x, y = torch.rand(16, 20), torch.randint(0, 3, (16,))
    for _ in range(5):
        for model, opt in ((a, ours), (b, adam)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_fp_meta_consolidates_the_real_weights():
    model = _model(cls=MLP)
    groups = metaplastic_param_groups(model, 1.35, is_hidden=hidden_layer_predicate(model))
    assert [g["meta"] for g in groups] == [1.35, 1.35, 0.0]
    assert groups[0]["params"][0] is model.layers[0].weight


# --- SI on CPU -------------------------------------------------------------------------------

def test_si_importances_are_not_zero_on_cpu(data_root, tmp_path):
    # Avalanche's own plugin aliases its weight snapshots on CPU and learns all-zero
    # importances; ours must not.
    from metabnn.baselines.si_plugin import CopyingSIPlugin

    config = tiny("si")
    seen = {}
    original = CopyingSIPlugin.after_training_exp

    def spy(self, strategy, **kwargs):
        original(self, strategy, **kwargs)
        seen["imp"] = {n: v.data.clone() for n, v in self.ewc_data[1].items()}

    CopyingSIPlugin.after_training_exp = spy
    try:
        _run(config, data_root, tmp_path)
    finally:
        CopyingSIPlugin.after_training_exp = original
    assert all(v.abs().sum() > 0 for v in seen["imp"].values())


# --- joint / cumulative ------------------------------------------------------------------------

def test_task_pure_batches_hold_one_task_each():
    from metabnn.baselines.joint_strategies import TaskPureBatchLoader

    t = torch.tensor([0] * 25 + [1] * 15 + [2] * 10)
    x = torch.arange(50).float().unsqueeze(1)
    loader = TaskPureBatchLoader((x, t.clone(), t), 10, torch.Generator().manual_seed(0))
    batches = list(loader)
    assert len(batches) == len(loader) == 3 + 2 + 1
    assert all(b[2].unique().numel() == 1 for b in batches)
    assert sorted(torch.cat([b[0] for b in batches]).flatten().tolist()) == list(range(50))
