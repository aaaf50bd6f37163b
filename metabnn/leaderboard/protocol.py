"""A board's protocol: what every run of one leaderboard table must share, whatever its method.

A table compares methods on one experiment, so its runs must agree on everything that defines
the experiment and may differ only in what defines the method. The experiment is

- the whole stream: ``stream.*`` (dataset, number of tasks, scenario, head and BatchNorm
  policy, images per task, chunks, out-of-distribution set, stream parameters);
- the training budget: ``train.epochs``, ``train.iterations``, ``train.batch_size``;
- the network's size: ``model.hidden`` and ``model.channels`` (a method may use a binary or a
  full-precision model of that size, so ``model.name`` is the method's).

Values are compared on the *resolved* config a results file records (defaults filled in), so a
run whose defaults differ from the board's is refused as a different protocol, which it is.
One exception: a model without BatchNorm (e.g. ``gaussian-mlp``, ``bayes-bnn``) resolves the
BatchNorm policy to ``none``; it has no BatchNorm state to share or keep per task, so ``none``
agrees with any policy of the board's (the method chose its model, as ``model.name`` says).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["PROTOCOL_KEYS", "protocol_of", "differences", "applies_to_all", "describe"]

PROTOCOL_KEYS = ("stream", "train.epochs", "train.iterations", "train.batch_size",
                 "model.hidden", "model.channels")
"""Dotted config keys (``stream`` meaning every key under it) that define a board's experiment."""


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flat(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def protocol_of(config: dict[str, Any]) -> dict[str, Any]:
    """The protocol values of a resolved config, as sorted dotted keys."""
    flat = _flat(config)
    keep = {k: v for k, v in flat.items()
            if any(k == p or k.startswith(p + ".") for p in PROTOCOL_KEYS)}
    return dict(sorted(keep.items()))


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


_NOT_APPLICABLE = {"stream.batchnorm": "none"}
"""Keys whose value says "this model has nothing to follow here": it agrees with any value."""


def _agree(key: str, a: Any, b: Any) -> bool:
    na = _NOT_APPLICABLE.get(key)
    return _show(a) == _show(b) or (na is not None and na in (a, b))


def differences(run: dict[str, Any], board: dict[str, Any]) -> list[str]:
    """``key run-value vs board-value`` for every protocol key where two protocols differ."""
    return [f"{k} {_show(run.get(k))} (board: {_show(board.get(k))})"
            for k in sorted(set(run) | set(board)) if not _agree(k, run.get(k), board.get(k))]


def applies_to_all(protocol: dict[str, Any]) -> bool:
    """Whether ``protocol`` can stand for its board: no key holds a not-applicable value."""
    return all(protocol.get(k) != v for k, v in _NOT_APPLICABLE.items())


_SCENARIOS = {"task": "task-incremental", "domain": "domain-incremental",
              "class": "class-incremental"}


def describe(protocol: dict[str, Any]) -> str:
    """The protocol in words, e.g. ``pmnist, 3 tasks, task-incremental, shared head, per-task
    BatchNorm, all images per task; hidden layers 512x512; 3 epochs per task, batch 100``."""
    g = protocol.get
    stream = [str(g("stream.name")), f"{g('stream.tasks')} tasks"]
    if g("stream.scenario"):
        stream.append(_SCENARIOS.get(g("stream.scenario"), str(g("stream.scenario"))))
    if g("stream.head"):
        stream.append(f"{g('stream.head')} head")
    if g("stream.batchnorm"):
        stream.append(f"{g('stream.batchnorm')} BatchNorm")
    if g("stream.chunks"):
        stream.append(f"{g('stream.chunks')} chunks")
    train, test = g("stream.train_per_task"), g("stream.test_per_task")
    stream.append(f"{f'{train:,}' if train else 'all'} training / "
                  f"{f'{test:,}' if test else 'all'} test images per task")
    if g("stream.ood"):
        stream.append(f"out-of-distribution set {g('stream.ood')}")
    params = {k[len("stream.params."):]: v for k, v in protocol.items()
              if k.startswith("stream.params.")}
    if params:
        stream.append(" ".join(f"{k}={_show(v)}" for k, v in params.items()))
    hidden = g("model.hidden") or []
    budget = (f"{g('train.iterations')} iterations per task" if g("train.iterations")
              else f"{g('train.epochs')} epochs per task")
    return (f"{', '.join(stream)}; hidden layers {'x'.join(map(str, hidden)) or 'none'}; "
            f"{budget}, batch {g('train.batch_size')}")
