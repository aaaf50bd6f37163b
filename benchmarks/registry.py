"""The stream registry, the object every stream factory returns, and per-stream defaults.

A stream factory is ``factory(config: StreamConfig, *, seed: int, data_root: Path) -> Stream``,
enrolled with ``@STREAMS.register(name, ...)``. Factories build data only; they never own
training. The registry info of a stream declares:

* ``scenarios`` — the scenarios it can honour, the first being its default;
* ``source`` and ``sizes`` — the data it reads and the size of its experiences (for listings);
* ``default_model`` — the model it is run with when ``model.name`` is unset;
* ``default_tasks`` and ``tasks`` — the number of experiences when ``stream.tasks`` is unset,
  and the values it accepts (a tuple; absent: any ``>= 1``);
* ``boundaries`` — ``False`` for stream learning: the learner gets no task label, no optimizer
  reset and no BatchNorm switch between experiences (``default_chunks`` is then the number of
  chunks when ``stream.chunks`` is unset, and ``tasks`` follows ``chunks``);
* ``task_head`` — the head of its task scenario when ``stream.head`` is unset: ``multi`` for
  streams whose tasks have classes of their own (the literature's Task-IL), ``shared`` (the
  default) where every task has the same classes (permuted MNIST, MNIST then Fashion-MNIST).

:func:`resolve` fills every unset (``None``) stream-dependent field from this info and refuses
values the stream cannot honour, so that the config a run is stamped with is the config it ran.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metabnn.config import ConfigError, RunConfig, StreamConfig
from metabnn.registry import Registry, coerce_param

__all__ = [
    "STREAMS",
    "Stream",
    "check_scenario",
    "resolve",
    "resolve_protocol",
    "resolve_stream",
    "build_stream",
    "stream_table",
]

STREAMS: Registry[Any] = Registry("stream")


@dataclass
class Stream:
    """An Avalanche benchmark plus what a model needs to know about its data.

    ``n_classes`` is the width of a shared output: the classes of one task for the task and
    domain scenarios (labels are relative to the task), all classes for the class scenario.
    ``task_classes`` is the number of classes of each task (a multi-head output has one head of
    that size per task; default: ``n_classes`` for every experience). ``boundaries`` is
    ``False`` when the learner must not be told where experiences start.
    """

    benchmark: Any
    input_shape: tuple[int, ...]
    n_classes: int
    scenario: str
    boundaries: bool = True
    task_classes: tuple[int, ...] = ()

    def head_sizes(self) -> tuple[int, ...]:
        """The number of classes of each experience's task."""
        return self.task_classes or (self.n_classes,) * len(self.benchmark.train_stream)

    @property
    def train_stream(self) -> Any:
        return self.benchmark.train_stream

    @property
    def test_stream(self) -> Any:
        return self.benchmark.test_stream


def check_scenario(name: str, config: StreamConfig) -> None:
    """Refuse a scenario the stream ``name`` cannot honour."""
    allowed = STREAMS.entry(name).info.get("scenarios", ())
    if config.scenario not in allowed:
        raise ConfigError(
            f"stream.scenario={config.scenario!r} is invalid for stream {name!r}: "
            f"allowed {', '.join(allowed)}"
        )


def resolve_stream(config: StreamConfig) -> StreamConfig:
    """``config`` with the stream's defaults for unset fields; refuses what it cannot honour."""
    info = STREAMS.entry(config.name).info
    name = config.name
    scenario = config.scenario or info["scenarios"][0]
    tasks, chunks = config.tasks, config.chunks
    if info.get("boundaries", True):
        if chunks is not None:
            raise ConfigError(f"stream.chunks={chunks!r} is invalid for stream {name!r}: only "
                              "stream-learning streams are cut into chunks (use stream.tasks)")
        tasks = tasks if tasks is not None else info.get("default_tasks", 1)
        allowed = info.get("tasks")
        if allowed is not None and tasks not in allowed:
            raise ConfigError(f"stream.tasks={tasks!r} is invalid for stream {name!r}: "
                              f"allowed {', '.join(map(str, allowed))}")
    else:
        chunks = chunks if chunks is not None else info["default_chunks"]
        if tasks is not None and tasks != chunks:
            raise ConfigError(f"stream.tasks={tasks!r} is invalid for stream {name!r}: its "
                              f"experiences are its {chunks} chunks (set stream.chunks)")
        tasks = chunks
    resolved = dataclasses.replace(config, scenario=scenario, tasks=tasks, chunks=chunks,
                                   params=stream_params(config))
    check_scenario(name, resolved)
    return resolved


def stream_params(config: StreamConfig) -> dict[str, Any]:
    """Every parameter the stream declares (registry info ``params``: ``key: (default,
    help)``) with the value this run uses; unknown keys and wrong types are refused."""
    declared = STREAMS.entry(config.name).info.get("params", {})
    unknown = sorted(set(config.params) - set(declared))
    if unknown:
        raise ConfigError(f"stream.params.{unknown[0]} is invalid: stream {config.name!r} has "
                          f"no such parameter (its parameters: "
                          f"{', '.join(sorted(declared)) or 'none'})")
    return {k: coerce_param(f"stream.params.{k}={config.params.get(k, d)!r} is invalid for "
                            f"stream {config.name!r}", config.params.get(k, d), d)
            for k, (d, _help) in declared.items()}


def resolve(config: RunConfig) -> RunConfig:
    """The run config with its stream's defaults: stream fields, model, optimizer resets.

    A stream without boundaries forces ``optim.reset_per_experience = False``: resetting Adam's
    moments at a chunk boundary would tell the learner where the boundary is.
    """
    stream = resolve_stream(config.stream)
    info = STREAMS.entry(stream.name).info
    model = config.model
    if model.name is None:
        model = dataclasses.replace(model, name=info.get("default_model", "bnn"))
    optim = config.optim
    if not info.get("boundaries", True):
        optim = dataclasses.replace(optim, reset_per_experience=False)
    stream = resolve_protocol(stream, model.name)
    train = config.train
    if train.iterations is not None:
        train = dataclasses.replace(train, epochs=1)  # one training phase, tested at its end
    return dataclasses.replace(config, stream=stream, model=model, optim=optim, train=train)


_HEADS = {"task": ("multi", "shared"), "domain": ("shared",), "class": ("growing",)}


def _defaults(info: dict[str, Any], scenario: str) -> tuple[str, str]:
    """A stream's default head and BatchNorm policy in ``scenario`` (for a model with BN)."""
    boundaries = info.get("boundaries", True)
    head = info.get("task_head", "shared") if scenario == "task" else _HEADS[scenario][0]
    return (head if boundaries else "shared",
            "per-task" if scenario == "task" and boundaries else "shared")


def resolve_protocol(stream: StreamConfig, model: str) -> StreamConfig:
    """The head and BatchNorm policy of a resolved ``stream`` for ``model``, filled and checked.

    Task scenario: the stream's ``task_head`` (multi-head for streams whose tasks have classes
    of their own) and per-task BatchNorm states (the paper's protocol); domain: one shared head
    and BatchNorm; class: one growing head and a shared BatchNorm; streams without boundaries:
    shared. A model without BatchNorm (registry info ``batchnorm: False``) has policy ``none``.
    """
    from metabnn.models import MODELS

    info = STREAMS.entry(stream.name).info
    scenario = stream.scenario
    boundaries = info.get("boundaries", True)
    default_head, default_bn = _defaults(info, scenario)
    head = stream.head or default_head
    allowed = _HEADS[scenario] if boundaries else ("shared",)
    if head not in allowed:
        raise ConfigError(f"stream.head={head!r} is invalid for the {scenario} scenario of "
                          f"stream {stream.name!r}: allowed {', '.join(allowed)}")
    has_bn = MODELS.entry(model).info.get("batchnorm", True) if model in MODELS.names() else True
    if not has_bn:
        if stream.batchnorm not in (None, "none"):
            raise ConfigError(f"stream.batchnorm={stream.batchnorm!r} is invalid for model "
                              f"{model!r}: it has no BatchNorm (leave it unset, or none)")
        batchnorm = "none"
    else:
        batchnorm = stream.batchnorm or default_bn
        if batchnorm == "none":
            raise ConfigError(f"stream.batchnorm='none' is invalid for model {model!r}: it has "
                              "BatchNorm (per-task or shared)")
        if batchnorm == "per-task" and (scenario != "task" or not boundaries):
            raise ConfigError(f"stream.batchnorm='per-task' is invalid for the {scenario} "
                              "scenario: only the task scenario tells the learner the task")
    return dataclasses.replace(stream, head=head, batchnorm=batchnorm)


def build_stream(config: StreamConfig, *, seed: int, data_root: str | Path) -> Stream:
    """Resolve ``config`` and call its factory: the one way to build a registered stream."""
    config = resolve_stream(config)
    return STREAMS.get(config.name)(config, seed=seed, data_root=Path(data_root))


def stream_table() -> str:
    """``metabnn list streams``: each stream with its scenarios, sizes, source and defaults."""
    lines = []
    for entry in STREAMS.entries():
        info = entry.info
        scenarios = ", ".join(info.get("scenarios", ()))
        if info.get("boundaries", True):
            shape = f"default {info.get('default_tasks', 1)} tasks"
        else:
            shape = f"default {info['default_chunks']} chunks, no task boundaries"
        heads = "; ".join("{}: {} head, {} BatchNorm".format(s, *_defaults(info, s))
                          for s in info.get("scenarios", ()))
        lines += [
            f"{entry.name:<25} {entry.description}",
            f"{'':<25} scenarios: {scenarios} (default {info['scenarios'][0]}); {shape}; "
            f"model: {info.get('default_model', 'bnn')}",
            f"{'':<25} sizes: {info.get('sizes', '?')}",
            f"{'':<25} source: {info.get('source', '?')}",
            f"{'':<25} defaults: {heads} (stream.head, stream.batchnorm)",
            *(f"{'':<25} --stream-param {k}={json.dumps(d)}  [{h}]"
              for k, (d, h) in info.get("params", {}).items()),
        ]
    return "\n".join(lines)
