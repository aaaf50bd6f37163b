"""Checkpoint and resume a run inside Avalanche's training loop, bit for bit.

A checkpoint (:mod:`metabnn.checkpoint`, written atomically, plain state only) holds everything
the rest of a run depends on:

* the model's ``state_dict`` (hidden weights, BatchNorm, and the registered buffers of the
  hardware arrays: stored values, intended signs, write counts) and the optimizer's;
* the strategy's data-order generator (``strategy.generator``) and the global generators (torch,
  CUDA, numpy, Python), which Avalanche plugins draw from;
* Avalanche's clock (experience and epoch counters, which e.g. EWC reads);
* the state of every plugin of the strategy, through an *adapter* per plugin class:
  per-task BatchNorm states, the accuracy matrix and curves, the growing head's classes, EWC's
  anchors and importances (and the Fisher-shuffle generator), SI's anchors, importances and path
  integrals, the hardware ledger, task records and array generators;
* the position in the stream: ``{"experience": i, "epoch": e}`` = experience ``i`` has ``e``
  finished epochs (``e = 0``: experiences ``0..i-1`` are complete), and the wall time so far.

A strategy whose state cannot be captured yet (a plugin without an adapter, e.g. replay buffers,
or a strategy class other than :class:`~metabnn.strategies.MetaplasticStrategy`) is reported by
:func:`not_resumable`; the runner then writes no checkpoints and refuses ``--resume`` rather than
resume it wrongly.

Resuming at an experience boundary restores everything before ``strategy.train``; resuming inside
an experience runs that experience's remaining epochs and restores everything at the start of
the first of them (:class:`ResumePlugin`, first in the plugin list), after Avalanche has rebuilt
the optimizer, the dataloader and the plugins' per-experience state. Checkpoints are written by
:class:`CheckpointPlugin`, last in the list (after Avalanche's clock), so they see every other
plugin's end-of-epoch and end-of-experience work.

Also here: :class:`FiniteLossPlugin` stops a run whose loss became NaN or infinite, checking once
per epoch (one host sync per epoch, none per step), before the checkpoint is written, so the last
good checkpoint is kept.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from avalanche.core import SupervisedPlugin

from metabnn.checkpoint import rng_state, save_checkpoint, set_rng_state

__all__ = [
    "CheckpointPlugin",
    "FiniteLossPlugin",
    "NonFiniteLossError",
    "ResumePlugin",
    "Resumer",
    "ResumeError",
    "capture",
    "restore",
    "not_resumable",
]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class ResumeError(ValueError):
    """``--resume`` cannot be honoured exactly (the message says why); nothing was trained."""


# -- adapters: (capture, restore) per plugin class -------------------------------------------

def _plain(obj: Any) -> Any:
    """A deep copy of lists / dicts / tensors (so later training does not alias the state)."""
    return copy.deepcopy(obj)


def _to(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to(v, device) for v in obj]
    return obj


def _counters(names: tuple[str, ...]) -> tuple[Callable, Callable]:
    def cap(p: Any, s: Any) -> dict[str, Any]:
        return {n: getattr(p, n) for n in names}

    def res(p: Any, state: dict[str, Any], s: Any) -> None:
        for n in names:
            setattr(p, n, _plain(state[n]))

    return cap, res


def _param_data(d: dict[str, Any]) -> dict[str, Any]:
    return {n: {"name": pd.name, "data": pd.data.detach().clone()} for n, pd in d.items()}


def _param_data_back(d: dict[str, Any], device: torch.device) -> dict[str, Any]:
    from avalanche.training.utils import ParamData

    return {n: ParamData(v["name"], init_tensor=v["data"].clone().to(device), device=device)
            for n, v in d.items()}


def _ewc_capture(p: Any, s: Any) -> dict[str, Any]:
    shuffle = getattr(p, "shuffle", None)
    return {
        "saved_params": {int(t): _param_data(d) for t, d in p.saved_params.items()},
        "importances": {int(t): _param_data(d) for t, d in p.importances.items()},
        "shuffle": shuffle.get_state() if isinstance(shuffle, torch.Generator) else None,
    }


def _ewc_restore(p: Any, state: dict[str, Any], s: Any) -> None:
    dev = torch.device(s.device)
    p.saved_params = defaultdict(dict, {int(t): _param_data_back(d, dev)
                                        for t, d in state["saved_params"].items()})
    p.importances = defaultdict(dict, {int(t): _param_data_back(d, dev)
                                       for t, d in state["importances"].items()})
    if state["shuffle"] is not None:
        p.shuffle.set_state(state["shuffle"])


def _si_capture(p: Any, s: Any) -> dict[str, Any]:
    return {"ewc_data": [_param_data(d) for d in p.ewc_data],
            "syn_data": {k: _param_data(d) for k, d in p.syn_data.items()}}


def _si_restore(p: Any, state: dict[str, Any], s: Any) -> None:
    cpu = torch.device("cpu")  # SI keeps its data on the CPU (Avalanche's .cpu() snapshots)
    p.ewc_data = tuple(_param_data_back(d, cpu) for d in state["ewc_data"])
    p.syn_data = {k: _param_data_back(d, cpu) for k, d in state["syn_data"].items()}


def _hardware_generators(p: Any) -> list[torch.Generator]:
    gens: list[torch.Generator] = []
    for module in p.backend.model.modules():
        g = getattr(module, "generator", None)
        if isinstance(g, torch.Generator) and all(g is not h for h in gens):
            gens.append(g)
    return gens


def _sources(p: Any) -> list[Any]:
    return [m.source for m in p.backend.model.modules() if hasattr(m, "source")]


def _hardware_capture(p: Any, s: Any) -> dict[str, Any]:
    return {
        "task": p._task,
        **p.backend.ledger.state_dict(),  # counts, task rows, mark: plain ints
        "generators": [g.get_state() for g in _hardware_generators(p)],
        "offsets": [getattr(src, "_offset", None) for src in _sources(p)],
    }


def _hardware_restore(p: Any, state: dict[str, Any], s: Any) -> None:
    p._task = state["task"]
    p.backend.ledger.load_state_dict(state)
    gens = _hardware_generators(p)
    if len(gens) != len(state["generators"]):
        raise ValueError("the checkpoint's hardware generators do not match this run's")
    for g, g_state in zip(gens, state["generators"]):
        g.set_state(g_state)
    for src, offset in zip(_sources(p), state["offsets"]):
        if hasattr(src, "_offset"):
            src._offset = offset


def _batchnorm_restore(p: Any, state: dict[str, Any], s: Any) -> None:
    p.states = {int(t): _to(v, s.device) for t, v in state["states"].items()}
    p._current = None


def _adapters() -> list[tuple[type, Callable | None, Callable | None]]:
    """``(class, capture, restore)``; ``None``: nothing to keep. Classes match exactly (a
    subclass may keep state of its own: it needs its own entry)."""
    from avalanche.training.plugins import (
        EvaluationPlugin,
        EWCPlugin,
        SynapticIntelligencePlugin,
    )
    from avalanche.training.plugins.clock import Clock
    from avalanche.training.templates.base_sgd import PeriodicEval

    from metabnn.baselines.ewc_plugin import FisherEWCPlugin
    from metabnn.baselines.si_plugin import CopyingSIPlugin
    from metabnn.hardware.plugin import HardwarePlugin
    from metabnn.plugins import (
        AccuracyMatrixPlugin,
        GrowingHeadPlugin,
        IterationBudgetPlugin,
        OODPlugin,
        ProgressPlugin,
        TaskBatchNormPlugin,
    )
    from metabnn.tracking import WandBPlugin

    clock = _counters(("train_iterations", "train_exp_counter", "train_exp_epochs",
                       "train_exp_iterations", "train_epoch_iterations", "total_iterations"))
    matrix = _counters(("curves", "matrix", "_epoch"))
    progress = _counters(("_epoch",))
    head = (lambda p, s: {"seen": p.seen.clone()},
            lambda p, st, s: setattr(p, "seen", st["seen"].clone()))
    return [
        (Clock, *clock),
        (AccuracyMatrixPlugin, *matrix),
        (OODPlugin, *_counters(("rows",))),
        (TaskBatchNormPlugin, lambda p, s: {"states": _plain(p.states)}, _batchnorm_restore),
        (GrowingHeadPlugin, *head),
        (ProgressPlugin, *progress),
        (HardwarePlugin, _hardware_capture, _hardware_restore),
        (EWCPlugin, _ewc_capture, _ewc_restore),
        (FisherEWCPlugin, _ewc_capture, _ewc_restore),
        (SynapticIntelligencePlugin, _si_capture, _si_restore),
        (CopyingSIPlugin, _si_capture, _si_restore),
        # stateless for training: no metrics are computed (no evaluator metrics, no periodic
        # evaluation), and W&B only logs (its loss sum restarts every epoch)
        (EvaluationPlugin, None, None),
        (PeriodicEval, None, None),
        (WandBPlugin, None, None),
        (CheckpointPlugin, None, None),
        (FiniteLossPlugin, None, None),
        (ResumePlugin, None, None),
        # counts this process's epochs only; wraps the loader again in every epoch (with an
        # iteration budget, checkpoints fall at experience ends only: epochs = 1)
        (EpochCounter, None, None),
        (IterationBudgetPlugin, None, None),
    ]


def _adapter(plugin: Any, adapters: list[tuple[type, Any, Any]]) -> tuple[Any, Any] | None:
    for cls, cap, res in adapters:
        if type(plugin) is cls:
            return cap, res
    return None


def not_resumable(strategy: Any, *, whole_stream: bool = False) -> str | None:
    """Why ``strategy`` cannot be checkpointed and resumed exactly, or ``None`` if it can."""
    from metabnn.strategies import MetaplasticStrategy

    if whole_stream:
        return "it trains on the whole stream in one call (joint training)"
    if type(strategy) is not MetaplasticStrategy:
        return f"its strategy class {type(strategy).__name__} keeps state not captured yet"
    if getattr(strategy, "fast_loader", True) is not True:
        return "it uses Avalanche's DataLoaders, whose order is not captured"
    if not (getattr(strategy.evaluator, "metrics", None) in (None, [])
            and strategy.eval_every < 0):
        return "it computes Avalanche evaluation metrics during training"
    adapters = _adapters()
    unknown = [type(p).__name__ for p in strategy.plugins if _adapter(p, adapters) is None]
    if unknown:
        return f"the state of {', '.join(unknown)} is not captured yet"
    return None


def capture(strategy: Any, position: dict[str, int], **extra: Any) -> dict[str, Any]:
    """Everything needed to continue ``strategy`` from ``position`` (plain state)."""
    adapters = _adapters()
    plugins = []
    for p in strategy.plugins:
        cap, _ = _adapter(p, adapters)  # type: ignore[misc]
        if cap is not None:
            plugins.append({"class": type(p).__name__, "state": cap(p, strategy)})
    return {
        "position": dict(position),
        "model": strategy.model.state_dict(),
        "optimizer": strategy.optimizer.state_dict(),
        "generator": strategy.generator.get_state(),
        "rng": rng_state(),
        "plugins": plugins,
        **extra,
    }


def restore(strategy: Any, state: dict[str, Any]) -> None:
    """Put ``strategy`` (built from the same config) back into the state :func:`capture` took."""
    adapters = _adapters()
    stateful = [(p, res) for p in strategy.plugins
                for cap, res in [_adapter(p, adapters)] if cap is not None]  # type: ignore[misc]
    saved = state["plugins"]
    if [type(p).__name__ for p, _ in stateful] != [s["class"] for s in saved]:
        ours = [type(p).__name__ for p, _ in stateful]
        raise ValueError("the checkpoint's plugins do not match this run's: "
                         f"{[s['class'] for s in saved]} vs {ours}")
    strategy.model.load_state_dict(state["model"])
    strategy.optimizer.load_state_dict(state["optimizer"])
    strategy.generator.set_state(state["generator"])
    for (p, res), s in zip(stateful, saved):
        res(p, s["state"], strategy)
    set_rng_state(state["rng"])


class ResumePlugin(SupervisedPlugin):
    """Restores a mid-experience checkpoint at the start of the first epoch it runs.

    Put it first in the plugin list: by then Avalanche has built this experience's optimizer,
    dataloader and the plugins' per-experience state, which :func:`restore` overwrites.
    """

    def __init__(self, state: dict[str, Any]) -> None:
        super().__init__()
        self.state: dict[str, Any] | None = state

    def before_training_epoch(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        if self.state is not None:
            restore(strategy, self.state)
            self.state = None


class EpochCounter(SupervisedPlugin):
    """Counts the training epochs this process ran (a resumed run: only what was left)."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs = 0

    def after_training_epoch(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self.epochs += 1


class FiniteLossPlugin(SupervisedPlugin):
    """Raise :class:`NonFiniteLossError` at the end of an epoch whose loss was ever NaN or inf.

    The check is accumulated on the device (``all finite so far``) and read once per epoch.
    """

    def __init__(self) -> None:
        super().__init__()
        self._finite: torch.Tensor | None = None

    def after_training_iteration(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        ok = torch.isfinite(strategy.loss.detach()).all()
        self._finite = ok if self._finite is None else self._finite & ok

    def after_training_epoch(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        finite, self._finite = self._finite, None
        if finite is not None and not bool(finite):
            exp = int(strategy.experience.current_experience)
            raise NonFiniteLossError(
                f"the training loss became NaN or infinite in experience {exp}, epoch "
                f"{strategy.clock.train_exp_epochs} (lower --lr?); the last good checkpoint "
                "is kept")


class CheckpointPlugin(SupervisedPlugin):
    """Writes a checkpoint every ``every`` epochs and at the end of every experience.

    Put it last in the plugin list (after Avalanche's clock). ``epochs`` is the run's epochs per
    experience; the last epoch's checkpoint is the end-of-experience one (written after the
    plugins' end-of-experience work: BatchNorm states, importances, the matrix row).
    ``extra()`` adds run facts (stamp, wall time so far).
    """

    def __init__(self, path: str | Path, *, every: int, epochs: int,
                 extra: Callable[[], dict[str, Any]] = dict,
                 on_save: Callable[[dict[str, int]], Any] = lambda position: None) -> None:
        super().__init__()
        self.path = Path(path)
        self.every = every
        self.epochs = epochs
        self.extra = extra
        self.on_save = on_save

    def save(self, strategy: Any, experience: int, epoch: int) -> None:
        position = {"experience": experience, "epoch": epoch}
        save_checkpoint(self.path, capture(strategy, position, **self.extra()))
        self.on_save(position)

    def after_training_epoch(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        done = strategy.clock.train_exp_epochs  # the clock ran first: epochs finished
        if done < self.epochs and done % self.every == 0:
            self.save(strategy, int(strategy.experience.current_experience), done)

    def after_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self.save(strategy, int(strategy.experience.current_experience) + 1, 0)


class Resumer:
    """The runner's side of checkpoints: installs the plugins, loads a checkpoint to resume
    from, and yields the experiences still to train.

    :param path: the run's checkpoint file.
    :param every: checkpoint every this many epochs (and at every experience end); 0: never.
    :param resume: ``"explicit"`` (``--resume``: a strategy that cannot resume is refused with
        :class:`ResumeError`), ``"auto"`` (a rerun of a running / failed stamp: resume if a
        checkpoint exists) or ``None`` (start from the beginning).
    :param name: the strategy's registered name (for messages).
    :param stamp: the run's stamp: a checkpoint of another run is refused.
    :param fingerprint: the code fingerprint id of this process (:mod:`metabnn.fingerprint`):
        a checkpoint written by other code is not continued (refused with ``"explicit"``, the
        run starts over with ``"auto"``), so a result never mixes two versions of the code.
    :param extra: run facts stored in every checkpoint (the stamp, the wall time so far).
    """

    def __init__(self, strategy: Any, path: str | Path, *, epochs: int, every: int = 1,
                 resume: str | None = None, whole_stream: bool = False, name: str = "",
                 stamp: str | None = None, fingerprint: str | None = None,
                 extra: Callable[[], dict[str, Any]] = dict,
                 on_save: Callable[[dict[str, int]], Any] = lambda position: None,
                 log: Callable[[str], Any] = print) -> None:
        self.strategy, self.path, self.epochs = strategy, Path(path), epochs
        self.start = {"experience": 0, "epoch": 0}
        self.state: dict[str, Any] = {}
        self.counter = EpochCounter()
        strategy.plugins.append(self.counter)
        reason = not_resumable(strategy, whole_stream=whole_stream)
        if reason is not None:
            if resume == "explicit":
                raise ResumeError(f"--resume is not supported for strategy {name!r}: {reason} "
                                  "(rerun without --resume to start over)")
            if every:
                log(f"checkpoints off: {reason}")
        strategy.plugins.append(FiniteLossPlugin())
        if reason is None and every > 0:
            strategy.plugins.append(CheckpointPlugin(self.path, every=every, epochs=epochs,
                                                     extra=extra, on_save=on_save))
        if reason is not None or resume is None:
            return
        if not self.path.exists():
            log(f"no checkpoint at {self.path}: starting from the beginning")
            return
        from metabnn.checkpoint import load_checkpoint

        state = load_checkpoint(self.path)
        if stamp is not None and state.get("stamp") != stamp:
            raise ResumeError(f"checkpoint {self.path} belongs to run {state.get('stamp')!r}, "
                              f"not {stamp!r}")
        if fingerprint is not None and state.get("fingerprint") != fingerprint:
            why = (f"checkpoint {self.path} was written by other code (fingerprint "
                   f"{state.get('fingerprint')}, this code {fingerprint})")
            if resume == "explicit":
                raise ResumeError(f"{why}: not continued (rerun without --resume to start "
                                  "over)")
            log(f"{why}: starting from the beginning")
            return
        self.state, self.start = state, dict(state["position"])
        if self.start["epoch"] == 0:
            restore(strategy, state)  # at an experience boundary: before strategy.train
        else:
            strategy.plugins.insert(0, ResumePlugin(state))
        log(f"resuming from {self.path}: experience {self.start['experience']}, "
            f"{self.start['epoch']} epoch(s) done")

    def report(self, experiences: int) -> str | None:
        """After a resumed run: how much it trained here against what the checkpoint held
        (``None`` for a run that started from the beginning)."""
        if not self.state:
            return None
        done = self.start["experience"] * self.epochs + self.start["epoch"]
        return (f"resumed: trained {self.counter.epochs} of {experiences * self.epochs} epochs "
                f"in this process; the checkpoint held the first {done}")

    @property
    def wall_time_s(self) -> float:
        """Training wall time of the earlier segments of this run (0 for a fresh run)."""
        return float(self.state.get("wall_time_s", 0.0))

    def experiences(self, stream: Any) -> Any:
        """The experiences of ``stream`` still to train; the first one may run only its
        remaining epochs."""
        first, done = self.start["experience"], self.start["epoch"]
        for i, experience in enumerate(stream):
            if i < first:
                continue
            if i == first and done:
                self.strategy.train_epochs = self.epochs - done
                try:
                    yield experience
                finally:
                    self.strategy.train_epochs = self.epochs
            else:
                yield experience
