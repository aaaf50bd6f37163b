"""The parts of metabnn.resume one at a time, on stand-in strategies (no training).

The end-to-end resume tests (tests/test_resume.py) prove that a resumed run equals the
uninterrupted one; these pin what each part decides, so a changed rule fails here in
milliseconds. Most were written for survivors of the mutation run (scripts/mutation.sh).
"""

from __future__ import annotations

import types

import pytest
import torch

from metabnn import resume
from metabnn.checkpoint import save_checkpoint
from metabnn.plugins import GrowingHeadPlugin, OODPlugin, TaskBatchNormPlugin
from metabnn.resume import (
    CheckpointPlugin,
    FiniteLossPlugin,
    NonFiniteLossError,
    ResumeError,
    ResumePlugin,
    Resumer,
    capture,
    not_resumable,
    restore,
)
from metabnn.strategies import MetaplasticStrategy


def _strategy(*plugins, **attributes) -> MetaplasticStrategy:
    """A MetaplasticStrategy with only the attributes resume reads (its __init__ not run)."""
    s = object.__new__(MetaplasticStrategy)
    model = torch.nn.Linear(2, 2)
    fields = {"evaluator": types.SimpleNamespace(metrics=[]), "eval_every": -1,
              "plugins": list(plugins), "model": model,
              "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
              "generator": torch.Generator().manual_seed(0), "device": "cpu"}
    fields.update(attributes)
    for key, value in fields.items():
        object.__setattr__(s, key, value)
    return s


def test_what_makes_a_strategy_not_resumable():
    assert not_resumable(_strategy()) is None
    no_flag = _strategy()
    assert not hasattr(no_flag, "fast_loader") and not_resumable(no_flag) is None
    assert not_resumable(_strategy(fast_loader=True)) is None
    assert not_resumable(_strategy(fast_loader=False)) == (
        "it uses Avalanche's DataLoaders, whose order is not captured")
    metrics = "it computes Avalanche evaluation metrics during training"
    assert not_resumable(_strategy(evaluator=types.SimpleNamespace(metrics=["acc"]))) == metrics
    assert not_resumable(_strategy(eval_every=0)) == metrics
    assert not_resumable(_strategy(eval_every=1)) == metrics
    assert not_resumable(_strategy(evaluator=object())) is None  # an evaluator without metrics
    assert not_resumable(_strategy(), whole_stream=True) == (
        "it trains on the whole stream in one call (joint training)")
    assert not_resumable(_strategy(object(), 3)) == (
        "the state of object, int is not captured yet")


def test_head_and_ood_state_round_trip_without_aliasing(tmp_path):
    """Captured, written, read back and restored as a run does; a restored run's rows are its
    own (the Resumer keeps the state it restored from)."""
    from metabnn.checkpoint import load_checkpoint

    head, ood = GrowingHeadPlugin(4), OODPlugin([], torch.zeros(1, 2), dataset="x")
    head.seen[1] = True
    ood.rows = [{"task": 0, "auroc": [0.5]}]
    save_checkpoint(tmp_path / "c.pt", capture(_strategy(head, ood), {"experience": 1,
                                                                       "epoch": 0}))
    state = load_checkpoint(tmp_path / "c.pt")

    head2, ood2 = GrowingHeadPlugin(4), OODPlugin([], torch.zeros(1, 2), dataset="x")
    restore(_strategy(head2, ood2), state)
    assert head2.seen.tolist() == [False, True, False, False]
    assert ood2.rows == [{"task": 0, "auroc": [0.5]}]
    head2.seen[2] = True  # the resumed run goes on training
    ood2.rows[0]["auroc"].append(0.7)
    head3, ood3 = GrowingHeadPlugin(4), OODPlugin([], torch.zeros(1, 2), dataset="x")
    restore(_strategy(head3, ood3), state)
    assert head3.seen.tolist() == [False, True, False, False]
    assert ood3.rows == [{"task": 0, "auroc": [0.5]}]


def test_a_restored_batchnorm_plugin_has_no_saved_training_state():
    plugin = TaskBatchNormPlugin()
    plugin._current = {"w": torch.ones(1)}
    resume._batchnorm_restore(plugin, {"states": {"0": {"w": torch.zeros(1)}}}, _strategy())
    assert plugin._current is None and list(plugin.states) == [0]


def test_the_resume_plugin_restores_once(monkeypatch):
    calls = []
    monkeypatch.setattr(resume, "restore", lambda s, state: calls.append(state))
    plugin = ResumePlugin({"position": 1})
    plugin.before_training_epoch(None)
    plugin.before_training_epoch(None)
    assert calls == [{"position": 1}]


def _losses(plugin, values):
    for v in values:
        plugin.after_training_iteration(types.SimpleNamespace(loss=torch.tensor(v)))
    strategy = types.SimpleNamespace(experience=types.SimpleNamespace(current_experience=0),
                                     clock=types.SimpleNamespace(train_exp_epochs=1))
    plugin.after_training_epoch(strategy)


def test_one_non_finite_loss_fails_the_epoch_even_if_later_ones_are_finite():
    plugin = FiniteLossPlugin()
    _losses(plugin, [1.0, 2.0])
    with pytest.raises(NonFiniteLossError, match="experience 0, epoch 1"):
        _losses(plugin, [float("nan"), 1.0, 2.0])
    _losses(plugin, [1.0])  # the next epoch starts clean


def test_a_checkpoint_save_reports_its_position(monkeypatch, tmp_path):
    monkeypatch.setattr(resume, "capture", lambda s, position, **extra: {"p": position})
    seen = []
    plugin = CheckpointPlugin(tmp_path / "c.pt", every=1, epochs=2, on_save=seen.append)
    plugin.save(None, 1, 2)
    assert seen == [{"experience": 1, "epoch": 2}]


def _checkpoint(tmp_path, **state):
    return save_checkpoint(tmp_path / "c.pt", {"position": {"experience": 1, "epoch": 1},
                                               "stamp": "mine", "fingerprint": "code", **state})


def _plugin_types(strategy):
    return [type(p).__name__ for p in strategy.plugins]


def test_which_plugins_a_resumer_installs(tmp_path):
    logs = []
    s = _strategy()
    Resumer(s, tmp_path / "c.pt", epochs=2, log=logs.append)
    assert _plugin_types(s) == ["EpochCounter", "FiniteLossPlugin", "CheckpointPlugin"]
    assert (s.plugins[-1].every, s.plugins[-1].epochs) == (1, 2)  # every epoch by default
    on_save = lambda position: None  # noqa: E731
    s = _strategy()
    Resumer(s, tmp_path / "c.pt", epochs=2, on_save=on_save)
    assert s.plugins[-1].on_save is on_save
    s = _strategy()
    Resumer(s, tmp_path / "c.pt", epochs=2, every=0)
    assert _plugin_types(s) == ["EpochCounter", "FiniteLossPlugin"]
    s = _strategy()
    Resumer(s, tmp_path / "c.pt", epochs=2, whole_stream=True, log=logs.append)
    assert _plugin_types(s) == ["EpochCounter", "FiniteLossPlugin"]
    assert logs == ["checkpoints off: it trains on the whole stream in one call (joint training)"]


def test_an_explicit_resume_of_an_unresumable_run_names_the_strategy(tmp_path):
    with pytest.raises(ResumeError) as err:
        Resumer(_strategy(), tmp_path / "c.pt", epochs=2, whole_stream=True, resume="explicit")
    assert str(err.value) == (
        "--resume is not supported for strategy '': it trains on the whole stream in one call "
        "(joint training) (rerun without --resume to start over)")


def test_a_checkpoint_is_read_only_when_resuming_a_resumable_run(tmp_path):
    _checkpoint(tmp_path)
    s = _strategy()
    fresh = Resumer(s, tmp_path / "c.pt", epochs=2)  # resume=None: start over
    assert fresh.start == {"experience": 0, "epoch": 0} and fresh.report(2) is None
    s = _strategy()
    unresumable = Resumer(s, tmp_path / "c.pt", epochs=2, whole_stream=True, resume="auto",
                          log=lambda line: None)
    assert unresumable.start == {"experience": 0, "epoch": 0}
    s = _strategy()
    resumed = Resumer(s, tmp_path / "c.pt", epochs=2, resume="auto", stamp="mine",
                      fingerprint="code", log=lambda line: None)
    assert resumed.start == {"experience": 1, "epoch": 1}
    assert isinstance(s.plugins[0], ResumePlugin)  # first: it restores before the others run


def test_a_checkpoint_of_another_run_or_other_code_is_not_continued(tmp_path):
    _checkpoint(tmp_path)
    with pytest.raises(ResumeError, match="belongs to run 'mine', not 'yours'"):
        Resumer(_strategy(), tmp_path / "c.pt", epochs=2, resume="auto", stamp="yours")
    with pytest.raises(ResumeError, match=r"other code \(fingerprint code, this code new\)"):
        Resumer(_strategy(), tmp_path / "c.pt", epochs=2, resume="explicit", stamp="mine",
                fingerprint="new")
    logs = []
    auto = Resumer(_strategy(), tmp_path / "c.pt", epochs=2, resume="auto", stamp="mine",
                   fingerprint="new", log=logs.append)
    assert auto.start == {"experience": 0, "epoch": 0}
    assert logs[-1].endswith(": starting from the beginning")
