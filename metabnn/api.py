"""The Python API: a run assembled exactly as ``metabnn run`` assembles it.

The protocol lives in more places than the model and the strategy: the seeded initial weights,
the data order, the per-task BatchNorm states, the head, the accuracy matrix. Built by hand from
the public classes, a run silently follows another protocol; built here, it is the command
line's run, number for number (a test holds them equal)::

    from metabnn.api import RunConfig, build, train

    config = RunConfig(strategy="meta")               # every field as `metabnn run --help`
    config = config.with_(stream={"name": "pmnist", "tasks": 2}, model={"hidden": [256, 256]})

    results = train(config, data_root="../shared/data")   # the whole run, nothing written

    run = build(config, data_root="../shared/data")       # or step by step:
    for experience in run.experiences():
        run.strategy.train(experience)                    # an Avalanche strategy
        print(run.matrix.matrix[-1])                      # accuracy on every task
    results = run.results()

``results`` holds what ``results.json`` holds (accuracy matrix, curves, metrics, provenance).
``run.model``, ``run.strategy`` (with ``run.strategy.plugins``) and ``run.stream`` (an Avalanche
benchmark with ``train_stream`` and ``test_stream``) are the objects the command line trains.
``plugins=`` adds Avalanche plugins of your own after the protocol's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metabnn.config import RunConfig, from_dict
from metabnn.runner import Assembly, assemble, validate

__all__ = ["RunConfig", "Run", "build", "train", "config"]


class Run(Assembly):
    """An assembled run (:class:`metabnn.runner.Assembly`) that times itself."""

    started: float = 0.0

    def results(self, wall_time_s: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        """The run's results so far (wall time: since :func:`build`, unless given)."""
        wall = time.perf_counter() - self.started if wall_time_s is None else wall_time_s
        return super().results(wall)


def config(**fields: Any) -> RunConfig:
    """A :class:`RunConfig` from nested fields, checked as the command line checks a config
    file: ``config(strategy="ewc", stream={"name": "split-mnist"}, params={...})``."""
    return from_dict(RunConfig, fields).validate()


def build(config: RunConfig, *, data_root: str | Path | None = None, device: str = "auto",
          plugins: Sequence[Any] = (), progress: bool = False) -> Run:
    """The command line's run of ``config`` (resolved and checked first), ready to train."""
    resolved = validate(config)
    a = assemble(resolved, data_root=data_root, device=device, progress=progress,
                 plugins=plugins)
    run = Run(**{f.name: getattr(a, f.name) for f in dataclasses.fields(Assembly)})
    run.started = time.perf_counter()
    return run


def train(config: RunConfig, **kwargs: Any) -> dict[str, Any]:
    """Build and train ``config`` in this process (no files, no registry); its results."""
    run = build(config, **kwargs)
    for experience in run.experiences():
        run.strategy.train(experience)
    return run.results()
