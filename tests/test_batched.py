"""K seeds as one batched model equal K separate models and K separate runs.

On CPU the batched model runs per-seed kernels, and every comparison here is *exact*
(``torch.equal``, ``==`` on accuracy matrices): a binarized net turns a last-bit difference into
a flipped sign sooner or later, so "close" would hide a real divergence. Seeds side by side
(threads) run on one intra-op thread each, so they are compared with runs made on one thread
(BatchNorm's CPU kernel sums a batch in an order that depends on the thread count). The batched
kernels (``per_seed=False``, the GPU path) sum in another order; they are tested with a stated
tolerance.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from metabnn.batched import BatchedBinaryLinear, BatchedBinaryMLP
from metabnn.batched_train import BatchedExperience, BatchedTrainer, intra_op_threads
from metabnn.config import RunConfig, StreamConfig, TrainConfig
from metabnn.models import BinaryMLP, init_weights_
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups

K = 3


def _models(k=K, hidden=(32, 24), track=False, in_features=20, classes=5):
    # BatchNorm weights at 1: the margins of the synthetic tasks below were measured with it;
    # the runs' U(0, 1) init goes through build_model in the end-to-end tests of this file
    return [init_weights_(BinaryMLP(in_features, hidden, classes, track_running_stats=track),
                          0.05, torch.Generator().manual_seed(s), bn_weight="ones")
            for s in range(k)]


def _data(k=K, b=16, in_features=20, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(k, b, in_features, generator=g),
            torch.randint(0, classes, (k, b), generator=g))


@pytest.mark.parametrize("track", [False, True])
def test_stack_unstack_round_trip(track):
    models = _models(track=track)
    batched = BatchedBinaryMLP.stack(models)
    assert batched.layers[0].weight.shape == (K, 32, 20)
    assert batched.norms[1].weight.shape == (K, 24)
    for k, model in enumerate(models):
        back = batched.unstack(k).state_dict()
        for name, value in model.state_dict().items():
            assert torch.equal(back[name], value), name


@pytest.mark.parametrize("track", [False, True])
def test_per_seed_forward_and_gradients_are_bitwise_separate(track):
    models = _models(track=track)
    batched = BatchedBinaryMLP.stack(models)
    x, y = _data()
    logits = batched(x)  # (K, B, classes)
    F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").div(16).backward()
    params = dict(batched.named_parameters())
    for k, model in enumerate(models):
        out = model(x[k])
        F.cross_entropy(out, y[k]).backward()
        assert torch.equal(logits[k].detach(), out.detach())
        for name, p in model.named_parameters():
            assert torch.equal(params[name].grad[k], p.grad), name
        if track:  # running statistics were updated per seed
            assert torch.equal(batched.norms[0].running_mean[k], model.norms[0].running_mean)
    batched.eval()
    for k, model in enumerate(models):
        model.eval()
        assert torch.equal(batched(x)[k], model(x[k]))


def test_metaplastic_adam_on_stacked_parameters_is_bitwise_separate():
    """Groups still come from the layers (hidden weights carry meta); the step is elementwise."""
    models = _models(hidden=(64, 48), in_features=40)
    batched = BatchedBinaryMLP.stack(models)
    groups = metaplastic_param_groups(batched, 1.35)
    assert [g["name"] for g in groups] == ["layers.0", "layers.1", "layers.2", "other"]
    assert [g["meta"] for g in groups] == [1.35, 1.35, 1.35, 0.0]
    opt = MetaplasticAdam(groups)
    opts = [MetaplasticAdam(metaplastic_param_groups(m, 1.35)) for m in models]
    for step in range(5):
        x, y = _data(b=16, in_features=40, seed=step)
        opt.zero_grad()
        F.cross_entropy(batched(x).flatten(0, 1), y.flatten(), reduction="sum").div(16).backward()
        opt.step()
        for k, (m, o) in enumerate(zip(models, opts)):
            o.zero_grad()
            F.cross_entropy(m(x[k]), y[k]).backward()
            o.step()
    params = dict(batched.named_parameters())
    for k, model in enumerate(models):
        for name, p in model.named_parameters():
            assert torch.equal(params[name][k], p), name


def test_batched_kernels_match_within_float_tolerance():
    """The GPU path (bmm, one BatchNorm over K*C channels) on CPU: same logits and gradients up
    to float32 summation order. Tolerance: 1e-5 absolute on unit-scale logits (BatchNorm output)
    and 1e-4 relative on gradients, ~100x the float32 rounding of 1000-term sums."""
    models = _models(hidden=(64, 48), in_features=40)
    exact = BatchedBinaryMLP.stack(models)
    fast = BatchedBinaryMLP.stack(models, per_seed=False)
    assert not fast.layers[0].per_seed and isinstance(fast.layers[0], BatchedBinaryLinear)
    x, y = _data(b=32, in_features=40)
    outs = []
    for model in (exact, fast):
        logits = model(x)
        F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").div(32).backward()
        outs.append((logits.detach(), {n: p.grad for n, p in model.named_parameters()}))
    torch.testing.assert_close(outs[1][0], outs[0][0], atol=1e-5, rtol=0)
    for name, grad in outs[0][1].items():
        torch.testing.assert_close(outs[1][1][name], grad, rtol=1e-4, atol=1e-6)


def _trainer(models, per_seed, exps, test, per_task_bn=True, epochs=2, seed_threads=None):
    model = BatchedBinaryMLP.stack(models, per_seed=per_seed)
    return BatchedTrainer(
        model, test, generators=[torch.Generator().manual_seed(10 + k) for k in range(K)],
        meta=1.35, lr=0.005, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-7,
        reset_per_experience=True, epochs=epochs, batch_size=50, eval_batch_size=64,
        per_task_bn=per_task_bn, seed_threads=seed_threads,
    )


def _synthetic_tasks():
    """Two tasks of 500 images x 20 features, labels from two random linear maps; 100 test."""
    g = torch.Generator().manual_seed(0)
    exps, test = [], []
    for t in range(2):
        w = torch.randn(20, 5, generator=g)
        x = torch.rand(K, 500, 20, generator=g)
        y = (x @ w).argmax(-1)
        exps.append(BatchedExperience(x[:, :400], y[:, :400], t))
        test.append(BatchedExperience(x[:, 400:], y[:, 400:], t))
    return exps, test


def test_trainer_learns_and_keeps_per_task_batchnorm():
    """Every seed learns task 0 above chance (20%) by a wide margin, and its task-0 accuracy
    after task 1 is measured with the task-0 BatchNorm state (restoring it reproduces the row
    exactly)."""
    exps, test = _synthetic_tasks()
    trainer = _trainer(_models(hidden=(64,)), True, exps, test, epochs=3)
    for exp in exps:
        trainer.train(exp)
    assert len(trainer.curves[0]) == 6 and set(trainer.bn_states) == {0, 1}
    for k in range(K):
        assert trainer.matrices[k][0][0] > 0.5, trainer.matrices[k]
    assert trainer.evaluate() == [m[-1] for m in trainer.matrices]


@pytest.mark.parametrize("track", [False, True])
def test_seeds_side_by_side_equal_the_stacked_path_bitwise(track):
    """Three seeds in three threads (seed views, one optimizer each) against the stacked
    per-seed path, both on one intra-op thread: the same weights, running statistics, per-task
    BatchNorm states, curves and matrices, bit for bit; the thread count is restored."""
    exps, test = _synthetic_tasks()
    before = torch.get_num_threads()
    trainers = []
    for threads in (1, 3):
        with intra_op_threads(1):
            trainer = _trainer(_models(hidden=(64,), track=track), True, exps, test,
                               seed_threads=threads)
            for exp in exps:
                trainer.train(exp)
        trainers.append(trainer)
    stacked, side = trainers
    assert side.seed_threads == 3 and side._views and not stacked._views
    assert torch.get_num_threads() == before
    assert side.curves == stacked.curves and side.matrices == stacked.matrices
    for a, b in zip(stacked.model.state_dict().items(), side.model.state_dict().items()):
        assert a[0] == b[0] and torch.equal(a[1], b[1]), a[0]
    for task, state in stacked.bn_states.items():
        for key, value in state.items():
            assert torch.equal(side.bn_states[task][key], value), key
    if track:
        assert int(side.model.norms[0].num_batches_tracked) == 2 * 2 * 8  # tasks*epochs*steps
    assert max(r["accuracy"][0] for r in side.curves[0]) > 0.4  # it learns (chance: 0.2)


def test_side_by_side_seeds_share_out_the_threads():
    """Six torch threads, three seeds: each seed runs on two intra-op threads, bitwise like the
    stacked path on two threads (and unlike it on one: BatchNorm's sums follow the count, so
    the comparison does see the thread count)."""
    exps, test = _synthetic_tasks()
    runs = {}
    for name, torch_threads, seed_threads in [("side", 6, 3), ("two", 2, 1), ("one", 1, 1)]:
        with intra_op_threads(torch_threads):
            trainer = _trainer(_models(hidden=(64,)), True, exps, test,
                               seed_threads=seed_threads)
            for exp in exps:
                trainer.train(exp)
        runs[name] = trainer
    assert runs["side"].threads_per_seed == 2
    weights = {name: t.model.layers[0].weight for name, t in runs.items()}
    assert torch.equal(weights["side"], weights["two"])
    assert not torch.equal(weights["two"], weights["one"])


def test_a_seed_view_shares_memory_and_not_autograd_history():
    batched = BatchedBinaryMLP.stack(_models())
    views = [batched.seed_view(k) for k in range(K)]
    x, y = _data()
    loss = F.cross_entropy(views[1](x[1]), y[1])
    with torch.no_grad():  # seed 0 steps in place while seed 1's graph is alive
        views[0].layers[0].weight.add_(1.0)
    loss.backward()  # would raise if the views shared a version counter
    assert torch.equal(batched.layers[0].weight[0], views[0].layers[0].weight)
    assert views[1].layers[0].weight.grad is not None and batched.layers[0].weight.grad is None


def test_batched_kernels_train_like_per_seed_kernels():
    """The GPU path trained on CPU for 2 tasks x 3 epochs (24 steps): hidden weights within
    1e-5 of the per-seed path (measured drift ~3e-7: float32 rounding of the sums, carried by
    Adam's lr-sized steps), no hidden weight's sign differs, and the accuracy curves are equal
    within 0.02 (2 of 100 test images per task)."""
    exps, test = _synthetic_tasks()
    trainers = [_trainer(_models(hidden=(64,)), per_seed, exps, test, epochs=3)
                for per_seed in (True, False)]
    for trainer in trainers:
        for exp in exps:
            trainer.train(exp)
    exact, fast = (dict(t.model.named_parameters()) for t in trainers)
    for name, p in exact.items():
        torch.testing.assert_close(fast[name], p, atol=1e-5, rtol=0)
        if name.startswith("layers."):
            assert torch.equal(fast[name].sign(), p.sign()), name
    for ce, cf in zip(trainers[0].curves, trainers[1].curves):
        for re, rf in zip(ce, cf):
            assert max(abs(a - b) for a, b in zip(re["accuracy"], rf["accuracy"])) <= 0.02


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, data_root):
    """A tiny pmnist (2 tasks, 1000 train / 500 test images, hidden [64], 2 epochs)."""
    return RunConfig(
        strategy="meta", stream=StreamConfig(name="pmnist", tasks=2, train_per_task=1000,
                                             test_per_task=500),
        model=dataclasses.replace(RunConfig().model, hidden=(64,)),
        train=TrainConfig(epochs=2, batch_size=100, eval_batch_size=200),
    )


def _equal_separate_runs(config, seeds, data_root, tmp_path, kernels="auto"):
    from metabnn.multiseed import run_seeds
    from metabnn.runner import run

    kw = dict(data_root=data_root, device="cpu", progress=False, log=lambda line: None)
    batched = run_seeds(config, seeds, batched=True, out_dir=tmp_path / "b",
                        registry=tmp_path / "b.sqlite", kernels=kernels, **kw)
    # side by side, every seed runs on threads_per_seed intra-op threads: so must its reference
    threads = json.loads((tmp_path / "b" / batched[0]["stamp"] / "results.json").read_text()
                         )["batched"]["threads_per_seed"]
    for seed, got in zip(seeds, batched):
        with intra_op_threads(threads):
            ref = run(dataclasses.replace(config, seed=seed), out_dir=tmp_path / "s",
                      record=False, **kw)
        on_disk = json.loads((tmp_path / "b" / ref["stamp"] / "results.json").read_text())
        assert got["stamp"] == ref["stamp"] == on_disk["stamp"]
        for key in ("config", "seed", "scenario", "boundaries", "strategy", "curves",
                    "accuracy_matrix", "metrics"):
            assert on_disk[key] == json.loads(json.dumps(ref[key])), key
        assert on_disk["batched"]["seeds"] == list(seeds)
        assert (tmp_path / "b" / ref["stamp"] / "config.json").exists()
    assert batched[0]["accuracy_matrix"] != batched[1]["accuracy_matrix"]  # seeds differ
    # the registry knows them: a second call with the same kernels skips them all (other
    # kernels or thread counts make another code fingerprint: they would rerun)
    again = run_seeds(config, seeds, batched=True, out_dir=tmp_path / "b",
                      registry=tmp_path / "b.sqlite", kernels=kernels, **kw)
    assert all(r.get("skipped") for r in again)


@pytest.mark.parametrize("kernels", ["auto", "per-seed"])
def test_batched_seeds_equal_separate_runs(kernels, tiny, data_root, tmp_path):
    """Each seed's results.json from ``--batched-seeds`` equals its separate run's, exactly:
    same stamp, config, strategy record, per-epoch curves, accuracy matrix and metrics (auto on
    CPU: seeds side by side, against one-thread runs; per-seed: on the same threads)."""
    _equal_separate_runs(tiny, [0, 1], data_root, tmp_path, kernels)
    record = json.loads(next((tmp_path / "b").glob("*/results.json")).read_text())["batched"]
    assert record["kernels"] == ("per-seed" if kernels == "per-seed" else "threads")
    threads = torch.get_num_threads()
    side_by_side = 1 if kernels == "per-seed" else min(2, threads)
    assert record["seed_threads"] == side_by_side
    assert record["threads_per_seed"] == (threads if side_by_side == 1 else threads // 2)


@pytest.mark.slow
def test_batched_seeds_equal_separate_runs_domain_three_seeds(tiny, data_root, tmp_path):
    """The same for three seeds in the domain scenario (one shared BatchNorm, no per-task
    states) with odd seeds and a larger model."""
    config = dataclasses.replace(
        tiny, stream=dataclasses.replace(tiny.stream, scenario="domain", tasks=3),
        model=dataclasses.replace(tiny.model, hidden=(128, 64)))
    _equal_separate_runs(config, [3, 7, 11], data_root, tmp_path)


@pytest.mark.parametrize("args, message", [
    (["--strategy", "ewc"], "cannot run strategy='ewc'"),
    (["--model", "mlp"], "cannot run model.name='mlp'"),
    (["--scenario", "class", "--stream", "split-mnist"], "cannot run stream.scenario='class'"),
    (["--resume"], "--resume cannot continue --batched-seeds runs"),
    (["--batched-kernels", "fast"], "kernels='fast' is invalid: auto, threads, per-seed, batched"),
])
def test_cli_refuses_what_batched_seeds_cannot_run(args, message, capsys, tmp_path):
    from metabnn.cli import main

    code = main(["run", "--seeds", "0", "1", "--batched-seeds", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_cli_batched_seeds_needs_seeds(capsys, tmp_path):
    from metabnn.cli import main

    assert main(["run", "--batched-seeds", "--out", str(tmp_path)]) == 2
    assert "--batched-seeds needs --seeds" in capsys.readouterr().err
    assert main(["run", "--seeds", "0", "1", "--batched-kernels", "threads",
                 "--out", str(tmp_path)]) == 2
    assert "--batched-kernels threads needs --batched-seeds" in capsys.readouterr().err
