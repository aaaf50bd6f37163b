"""Multi-head Task-IL, the protocol each stream resolves to, iteration budgets and i.i.d. upper
bounds: hand-made heads, one-line refusals, and short real runs on split MNIST."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from metabnn.baselines import STRATEGIES
from metabnn.config import ConfigError, RunConfig, from_dict
from metabnn.data import IterationLoader, TensorBatchLoader
from metabnn.evaluation import accuracy
from metabnn.heads import MultiHeadModel
from metabnn.runner import run, validate

TINY = {"stream": {"name": "split-mnist", "tasks": 5, "train_per_task": 300,
                   "test_per_task": 200},
        "model": {"hidden": [32]}, "train": {"epochs": 1, "batch_size": 50}}


def _config(**over) -> RunConfig:
    data = json.loads(json.dumps(TINY))
    for key, value in over.items():
        section, _, leaf = key.rpartition(".")
        (data.setdefault(section, {}) if section else data)[leaf] = value
    return validate(from_dict(RunConfig, data))


def test_each_example_gets_its_own_tasks_head_and_unequal_heads_are_padded():
    body = nn.Linear(10, 10, bias=False)
    with torch.no_grad():
        body.weight.copy_(torch.eye(10))  # the logits are the inputs: columns are visible
    model = MultiHeadModel(body, (4, 6))  # CIFAR-10 vehicles, then animals
    x = torch.arange(20.0).view(2, 10)
    out = model(x, torch.tensor([0, 1]))
    assert out.shape == (2, 6)
    assert out[0, :4].tolist() == [0.0, 1.0, 2.0, 3.0] and torch.isinf(out[0, 4:]).all()
    assert out[1].tolist() == [14.0, 15.0, 16.0, 17.0, 18.0, 19.0]
    assert torch.equal(model(x, 1), model.forward_single_task(x, 1))
    model.known_train_tasks_labels = {0, 1}
    heads = model(x, None)  # LwF distils every known head
    assert set(heads) == {0, 1} and torch.equal(heads[1], model(x, 1))
    # accuracy() passes the task labels: head 1 of example 1 says class 5 (input 19)
    assert accuracy(model, x, torch.tensor([3, 5]), task_labels=torch.tensor([0, 1])) == 1.0
    with pytest.raises(ValueError, match="needs the task labels"):
        accuracy(model, x, torch.tensor([3, 5]))


@pytest.mark.parametrize(("stream", "scenario", "model", "head", "batchnorm"), [
    ("split-mnist", "task", "bnn", "multi", "per-task"),
    ("split-mnist", "domain", "bnn", "shared", "shared"),
    ("split-mnist", "class", "bnn", "growing", "shared"),
    ("split-mnist", "task", "mlp-nobn", "multi", "none"),
    ("pmnist", "task", "bnn", "shared", "per-task"),  # the paper's protocol
    ("stream-fmnist", "domain", "bnn", "shared", "shared"),
])
def test_every_stream_resolves_a_head_and_a_batchnorm_policy(stream, scenario, model, head,
                                                              batchnorm):
    config = validate(from_dict(RunConfig, {"stream": {"name": stream, "scenario": scenario},
                                            "model": {"name": model}}))
    assert (config.stream.head, config.stream.batchnorm) == (head, batchnorm)


@pytest.mark.parametrize(("over", "message"), [
    ({"stream.scenario": "domain", "stream.head": "multi"},
     "stream.head='multi' is invalid for the domain scenario of stream 'split-mnist': "
     "allowed shared"),
    ({"stream.scenario": "class", "stream.batchnorm": "per-task"},
     "stream.batchnorm='per-task' is invalid for the class scenario"),
    ({"model.name": "mlp-nobn", "stream.batchnorm": "shared"},
     "stream.batchnorm='shared' is invalid for model 'mlp-nobn': it has no BatchNorm"),
    ({"stream.head": "sideways"}, "stream.head='sideways' is invalid: must be one of"),
])
def test_a_protocol_the_stream_or_model_cannot_honour_is_refused_in_one_line(over, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _config(**over)


def test_the_paper_protocol_keeps_its_name_and_multi_head_lifts_task_il(data_root, tmp_path):
    """Split MNIST, Task-IL: one head per task (the literature) against the paper's shared
    head with per-task BatchNorm, both recorded in results.json. Naive fine-tuning, 5 tasks:
    with its own head a task keeps its two classes apart, so the multi-head learner forgets far
    less (fixed seed; measured 95 vs 71 % at this size, margin 10 points)."""
    results = {}
    for head in ("multi", "shared"):
        config = _config(**{"stream.head": head, "strategy": "naive"})
        results[head] = run(config, data_root=data_root, out_dir=tmp_path, progress=False,
                            log=lambda s: None, record=False)
        assert results[head]["config"]["stream"]["head"] == head
        assert results[head]["config"]["stream"]["batchnorm"] == "per-task"
    multi = results["multi"]["metrics"]["average_accuracy"]
    shared = results["shared"]["metrics"]["average_accuracy"]
    assert multi > shared + 0.10, (multi, shared)


@pytest.mark.parametrize("name", [n for n in STRATEGIES.names()
                                  if "task" in STRATEGIES.entry(n).info.get("scenarios", ())
                                  and STRATEGIES.entry(n).info.get("multi_head", True)])
def test_every_task_il_strategy_trains_a_multi_head_model(name, data_root, tmp_path):
    info = STRATEGIES.entry(name).info
    model = "bnn" if "bnn" in info.get("models", ("bnn", "mlp")) else "mlp"
    config = _config(**{"strategy": name, "model.name": model, "stream.tasks": 2})
    res = run(config, data_root=data_root, out_dir=tmp_path, progress=False,
              log=lambda s: None, record=False)
    assert res["config"]["stream"]["head"] == "multi"
    assert max(res["accuracy_matrix"][-1]) > 0.6  # a 2-way head per task: chance is 0.5


def test_an_iteration_budget_is_exactly_that_many_steps_in_one_phase(data_root, tmp_path):
    gen = torch.Generator().manual_seed(0)
    loader = TensorBatchLoader((torch.arange(10),), 4, generator=gen)
    batches = list(IterationLoader(loader, 7))  # passes of 3 batches: 3 + 3 + 1
    assert len(batches) == 7 and [len(b[0]) for b in batches] == [4, 4, 2, 4, 4, 2, 4]
    assert sorted(torch.cat([b[0] for b in batches[:3]]).tolist()) == list(range(10))
    assert batches[0][0].tolist() != batches[3][0].tolist()  # the next pass reshuffles
    config = _config(**{"train.iterations": 7, "train.epochs": 4, "stream.tasks": 2})
    assert config.train.epochs == 1  # one training phase: the stamp does not carry epochs
    steps: list[int] = []

    from metabnn.strategies import MetaplasticStrategy

    step = MetaplasticStrategy.training_epoch

    def counting(self, **kwargs):
        before = self.clock.train_epoch_iterations
        step(self, **kwargs)
        steps.append(self.clock.train_epoch_iterations - before)

    MetaplasticStrategy.training_epoch = counting
    try:
        res = run(config, data_root=data_root, out_dir=tmp_path, progress=False,
                  log=lambda s: None, record=False)
    finally:
        MetaplasticStrategy.training_epoch = step
    assert steps == [7, 7]  # 300 images / 50 per batch = 6 per pass: 7 is one pass and one
    assert len(res["curves"]) == 2  # tested once per experience


def test_upper_bounds_draw_iid_minibatches_and_run_in_class_il(data_root, tmp_path):
    from metabnn.baselines.joint_strategies import CumulativeStrategy

    seen: list[int] = []
    make = CumulativeStrategy.make_train_dataloader

    def spy(self, **kwargs):
        make(self, **kwargs)
        if self.clock.train_exp_counter == 1:
            first = next(iter(self.dataloader))
            seen.append(len(first[2].unique()))

    CumulativeStrategy.make_train_dataloader = spy
    try:
        config = _config(**{"strategy": "cumulative", "stream.tasks": 2, "model.name": "mlp"})
        run(config, data_root=data_root, out_dir=tmp_path, progress=False, log=lambda s: None,
            record=False)
    finally:
        CumulativeStrategy.make_train_dataloader = make
    assert seen == [2]  # the second experience's first minibatch mixes both tasks
    for name in ("joint", "cumulative"):  # no BatchNorm: a test batch holds one task
        config = _config(**{"strategy": name, "stream.scenario": "class",
                            "model.name": "mlp-nobn", "train.epochs": 3})
        res = run(config, data_root=data_root, out_dir=tmp_path, progress=False,
                  log=lambda s: None, record=False)
        assert res["config"]["stream"]["head"] == "growing"
        assert res["metrics"]["average_accuracy"] > 0.5  # 10 classes; naive class-IL: ~0.2
