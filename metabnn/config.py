"""Run configuration: frozen dataclasses, validated, with a short stable hash (the *stamp*).

A :class:`RunConfig` composes one dataclass per concern. Every field documents itself in its
``metadata["help"]`` (the CLI prints it) and gives its source. ``stamp(config)`` hashes the
canonical JSON of the whole config: two runs with the same stamp ran the same experiment. Where
a run executes (device, data root, output folder) is not part of the config.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ConfigError",
    "StreamConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "HardwareConfig",
    "RunConfig",
    "stamp",
    "seedless_stamp",
    "to_dict",
    "from_dict",
    "help_of",
]


class ConfigError(ValueError):
    """A config value or key is invalid; the message names the field, the value and what fits."""


def _f(default: Any, help: str) -> Any:
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults (configs are frozen)")
    return field(default=default, metadata={"help": help})


def _check(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r} is invalid: {allowed}")


@dataclass(frozen=True)
class StreamConfig:
    name: str = _f("pmnist", "registered stream name (`metabnn list streams`)")
    tasks: int | None = _f(
        None, "number of experiences (tasks) in the stream; unset: the stream's default "
        "(`metabnn list streams`)"
    )
    scenario: str | None = _f(
        None,
        "task: task labels and per-task BatchNorm states restored at test (the paper's "
        "protocol); domain: one shared BatchNorm and head, task label 0; class: one growing "
        "head; unset: the stream's first scenario (`metabnn list streams`)",
    )
    chunks: int | None = _f(
        None, "stream learning: number of i.i.d. chunks of the dataset (stream-* streams only; "
        "unset: the paper's 60 for Fashion-MNIST, 20 for CIFAR-10)"
    )
    train_per_task: int | None = _f(None, "use only this many training images per task (all)")
    test_per_task: int | None = _f(None, "use only this many test images per task (all)")
    params: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "the stream's own parameters (e.g. rotation angles of a user's "
                          "stream), checked against what it declares (`metabnn list streams`)"},
    )
    head: str | None = _f(
        None, "output head: multi = one head per task, chosen by the task label (task "
        "scenario: the literature's Task-IL, van de Ven & Tolias 2019); shared = one head for "
        "all tasks, labels relative to the task (task scenario: the paper's protocol; domain); "
        "growing = one output per class seen so far (class); unset: the stream's default "
        "(`metabnn list streams`)")
    batchnorm: str | None = _f(
        None, "BatchNorm policy: per-task = a BatchNorm state per task, saved after training "
        "it and restored to test it (task scenario; the paper's protocol); shared = one state "
        "for all tasks; none = the model has no BatchNorm; unset: per-task in the task "
        "scenario, shared otherwise (none for models without BatchNorm)")

    ood: str | None = _f(
        None, "out-of-distribution detection at the end of every experience: the just-learned "
        "task's test images against as many test images of this dataset (fmnist or mnist, "
        "not permuted), AUROC of the model's uncertainty (Bonnet et al. 2025); unset: none")

    def validate(self) -> None:
        _check(self.tasks is None or self.tasks >= 1, "stream.tasks", self.tasks,
               "must be >= 1")
        _check(self.ood in (None, "fmnist", "mnist"), "stream.ood", self.ood,
               "must be fmnist, mnist or unset")
        _check(self.scenario in (None, "task", "domain", "class"), "stream.scenario",
               self.scenario, "must be one of task, domain, class")
        _check(self.chunks is None or self.chunks >= 1, "stream.chunks", self.chunks,
               "must be >= 1 or unset")
        for name in ("train_per_task", "test_per_task"):
            v = getattr(self, name)
            _check(v is None or v >= 1, f"stream.{name}", v, "must be >= 1 or unset")
        _check(self.head in (None, "multi", "shared", "growing"), "stream.head", self.head,
               "must be one of multi, shared, growing")
        _check(self.batchnorm in (None, "per-task", "shared", "none"), "stream.batchnorm",
               self.batchnorm, "must be one of per-task, shared, none")


@dataclass(frozen=True)
class ModelConfig:
    name: str | None = _f(
        None, "registered model name (`metabnn list models`): bnn / mlp (binary MLP and its "
        "full-precision twin), bnn-conv / conv (conv nets for CIFAR); unset: the stream's "
        "default (bnn for MNIST-like streams, bnn-conv for CIFAR)"
    )
    hidden: tuple[int, ...] = _f(
        (1024, 1024), "hidden layer widths (paper Fig. 2: 4096 4096; CPU default 1024 1024)"
    )
    track_running_stats: bool = _f(
        False, "BatchNorm running statistics (reference code: off, batch statistics at test)"
    )
    init_width: float = _f(
        0.05, "hidden weights ~ U[-w, w] (reference code: --init-width 0.1, i.e. w = 0.05)"
    )
    bn_weight_init: str = _f(
        "uniform", "BatchNorm weights (gamma) at init: uniform = U(0, 1), the default of "
        "PyTorch 1.1.0, with which the paper's results were made; ones = the default of "
        "PyTorch >= 1.2, which the authors' code gets on a current PyTorch"
    )
    sign_zero: str = _f(
        "plus-one", "bnn only: sign(0) of the binarized activations and weights. plus-one = +1 "
        "(every value strictly +-1); zero = 0, as torch.sign and the authors' code of "
        "Laborieux et al. 2021, where an exact 0 (a BatchNorm output equal to its batch mean "
        "while the BatchNorm bias is still 0, as at the first step of a task) passes as 0"
    )
    channels: tuple[int, ...] | None = _f(
        None,
        "conv nets only: output channels of the convolutions; `hidden` sets the dense layers "
        "after. bnn-conv / conv: 3x3, a 2x2 max-pool after every second one (VGG-like BNN of "
        "Hubara et al. 2016; default 128 128 256 256 512 512); bnn-1d / hybrid-1d / cnn-1d: "
        "kernel 5, a max-pool after each (default 16 32 64); unset: the model's default",
    )

    def validate(self) -> None:
        _check(len(self.hidden) >= 1 and all(h >= 1 for h in self.hidden), "model.hidden",
               list(self.hidden), "needs one or more widths, each >= 1")
        _check(self.init_width > 0, "model.init_width", self.init_width, "must be > 0")
        _check(self.bn_weight_init in ("uniform", "ones"), "model.bn_weight_init",
               self.bn_weight_init, "must be one of uniform, ones")
        _check(self.sign_zero in ("plus-one", "zero"), "model.sign_zero", self.sign_zero,
               "must be one of plus-one, zero")
        _check(self.channels is None or (len(self.channels) >= 1
                                         and all(c >= 1 for c in self.channels)),
               "model.channels", None if self.channels is None else list(self.channels),
               "needs one or more widths, each >= 1")


@dataclass(frozen=True)
class OptimConfig:
    meta: float = _f(1.35, "metaplasticity m in f_meta = 1 - tanh^2(m|W_h|); 0 = plain Adam "
                     "(paper Fig. 2d: 1.35)")
    lr: float = _f(0.005, "Adam learning rate (paper: 0.005)")
    weight_decay: float = _f(1e-7, "weight decay added to the gradient (paper: 1e-7)")
    betas: tuple[float, float] = _f((0.9, 0.999), "Adam betas (torch defaults, as the paper)")
    eps: float = _f(1e-8, "Adam epsilon (torch default)")
    eps_placement: str = _f(
        "before-bias-correction",
        "where Adam's epsilon enters: before-bias-correction adds it to sqrt(v) and folds the "
        "bias correction into the step size (Adam of PyTorch 1.1.0, which the authors' Adam_meta "
        "copies; the paper's runs); after-bias-correction adds it to the bias-corrected sqrt(v) "
        "(today's torch.optim.Adam, bit for bit at m = 0)")
    reset_per_experience: bool = _f(
        True, "fresh optimizer state at every experience (paper's reference code: yes)"
    )

    def validate(self) -> None:
        _check(self.meta >= 0, "optim.meta", self.meta, "must be >= 0")
        _check(self.lr > 0, "optim.lr", self.lr, "must be > 0")
        _check(self.weight_decay >= 0, "optim.weight_decay", self.weight_decay, "must be >= 0")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "optim.betas",
               list(self.betas), "needs two values in [0, 1)")
        _check(self.eps > 0, "optim.eps", self.eps, "must be > 0")
        _check(self.eps_placement in ("before-bias-correction", "after-bias-correction"),
               "optim.eps_placement", self.eps_placement,
               "must be one of before-bias-correction, after-bias-correction")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = _f(5, "epochs per experience (paper Fig. 2: 40); 1 when iterations is set")
    iterations: int | None = _f(
        None, "train each experience for exactly this many minibatches (reshuffled passes as "
        "needed), tested once at its end; unset: epochs (van de Ven & Tolias 2019 count 2000 "
        "iterations per task)")
    batch_size: int = _f(100, "training minibatch size (paper: 100)")
    eval_batch_size: int = _f(
        1000, "test minibatch size; with batch-statistics BatchNorm it is part of the protocol"
    )

    eval_every: str = _f(
        "epoch", "when every task is tested: epoch (forgetting curves after every epoch) or "
        "experience (only at its end: long streams, where tasks x epochs x tasks evaluations "
        "would dominate)")

    def validate(self) -> None:
        _check(self.epochs >= 1, "train.epochs", self.epochs, "must be >= 1")
        _check(self.eval_every in ("epoch", "experience"), "train.eval_every", self.eval_every,
               "must be epoch or experience")
        _check(self.iterations is None or self.iterations >= 1, "train.iterations",
               self.iterations, "must be >= 1 or unset")
        _check(self.batch_size >= 2, "train.batch_size", self.batch_size,
               "must be >= 2 (BatchNorm needs two samples)")
        _check(self.eval_batch_size >= 2, "train.eval_batch_size", self.eval_batch_size,
               "must be >= 2")


@dataclass(frozen=True)
class HardwareConfig:
    name: str = _f("none", "memory backend for the binary weights (`metabnn list hardware`); "
                   "none = software BNN")
    condition: str = _f("nominal", "programming condition preset: weak, nominal or strong")
    ber: float | None = _f(None, "force this bit error rate per write instead of the preset's")
    prog_energy_pj: float | None = _f(
        None, "programming energy per write in pJ (sets the BER through the device model)"
    )
    ternary: bool = _f(False, "ternary weights (+1/0/-1) on 2T2R pairs read by a PCSA")
    sc_bits: int | None = _f(None, "stochastic-computing inputs: bit-stream length L (unset: off)")
    error_aware_ber: float = _f(
        0.0, "error-aware training: random weight sign flips at this rate in the forward pass"
    )
    calibration: tuple[tuple[Any, ...], ...] | None = _f(
        None, "a measured cell for --hardware table: rows (condition, ber, e_write_pj), "
        "loaded from a CSV by --calibration FILE; unset: the table cell's built-in rows"
    )

    def validate(self) -> None:
        _check(self.ber is None or 0 <= self.ber <= 0.5, "hardware.ber", self.ber,
               "must lie in [0, 0.5]")
        _check(self.prog_energy_pj is None or self.prog_energy_pj > 0,
               "hardware.prog_energy_pj", self.prog_energy_pj, "must be > 0")
        _check(self.sc_bits is None or self.sc_bits >= 1, "hardware.sc_bits", self.sc_bits,
               "must be >= 1 or unset")
        _check(0 <= self.error_aware_ber <= 0.5, "hardware.error_aware_ber",
               self.error_aware_ber, "must lie in [0, 0.5]")
        if self.calibration is not None and self.name != "table":
            raise ConfigError(f"hardware.calibration is for the table cell (--hardware table), "
                              f"not {self.name!r}")


@dataclass(frozen=True)
class RunConfig:
    strategy: str = _f("meta", "registered strategy name (`metabnn list strategies`)")
    seed: int = _f(0, "seed of the stream, the initial weights and the data order")
    params: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "strategy hyperparameters, checked against the strategy's declared "
                          "parameters (`metabnn list strategies`)"},
    )
    stream: StreamConfig = field(default_factory=StreamConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)

    def validate(self) -> RunConfig:
        _check(self.seed >= 0, "seed", self.seed, "must be >= 0")
        for part in (self.stream, self.model, self.optim, self.train, self.hardware):
            part.validate()
        _check(self.model.sign_zero == "plus-one" or self.hardware.name == "none",
               "model.sign_zero", self.model.sign_zero, "must be plus-one on a hardware backend "
               "(a memory cell stores +-1, never 0)")
        return self

    def with_(self, **fields: Any) -> RunConfig:
        """This config with some fields replaced, sections merged:
        ``config.with_(stream={"tasks": 2}, seed=3)``; checked as a config file is."""
        data = to_dict(self)
        for key, value in fields.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict) and key != "params":
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return from_dict(RunConfig, data).validate()


def to_dict(config: Any) -> dict[str, Any]:
    """Plain JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def stamp(config: RunConfig) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of ``config``."""
    canonical = json.dumps(to_dict(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def seedless_stamp(config: dict[str, Any]) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of a config dict without its seed: what
    the runs of one configuration over several seeds share."""
    body = {k: v for k, v in config.items() if k != "seed"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _coerce(name: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(name, inner, value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}={value!r} is invalid: expected a list")
        item = args[0]
        return tuple(_coerce(name, item, v) for v in value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} is invalid: expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}={value!r} is invalid: expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}={value!r} is invalid: expected a number")
        return float(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name}={value!r} is invalid: expected a mapping")
        return dict(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}={value!r} is invalid: expected a string")
        return value
    return value


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build a config dataclass from a (possibly partial) dict, refusing unknown keys and types."""
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "config"
        raise ConfigError(f"{where}={data!r} is invalid: expected a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else ""
            raise ConfigError(f"unknown config key {prefix}{key}{hint}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(f"{prefix}{key}", tp, value)
    return cls(**kwargs)


def help_of(cls: type, name: str) -> str:
    """The ``help`` text of field ``name`` of dataclass ``cls``."""
    return next(f.metadata.get("help", "") for f in dataclasses.fields(cls) if f.name == name)
