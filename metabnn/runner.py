"""One run, top to bottom: config -> stream -> model -> strategy -> train -> results.json.

This is the application layer: it resolves names through the registries of ``benchmarks`` and
``baselines``, and nothing in the core imports it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from baselines import STRATEGIES
from benchmarks import STREAMS, check_scenario
from metabnn.config import ConfigError, RunConfig, stamp, to_dict
from metabnn.data import resolve_data_root
from metabnn.metrics import summarize
from metabnn.models import MODELS, init_weights_
from metabnn.results import provenance, write_json_atomic
from metabnn.seeding import derived_seed, generator

__all__ = ["run", "resolve_device", "build_model", "format_matrix", "validate"]


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} is invalid: CUDA is not available on this machine")
    return torch.device(device)


def validate(config: RunConfig) -> RunConfig:
    """Check values and that every name resolves, before any work starts."""
    config.validate()
    STREAMS.entry(config.stream.name)
    STRATEGIES.entry(config.strategy)
    MODELS.entry(config.model.name)
    check_scenario(config.stream.name, config.stream)
    if config.hardware.name != "none":
        raise ConfigError(f"hardware.name={config.hardware.name!r} is invalid: no hardware "
                          "backend is registered yet")
    return config


def build_model(config: RunConfig, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    cls = MODELS.get(config.model.name)
    model = cls(
        int(np.prod(input_shape)),
        tuple(config.model.hidden),
        n_classes,
        track_running_stats=config.model.track_running_stats,
    )
    return init_weights_(model, config.model.init_width, generator(config.seed, "init"))


def format_matrix(matrix: list[list[float]]) -> str:
    """The accuracy matrix as a text table, in percent."""
    n = len(matrix[0]) if matrix else 0
    head = "after exp | " + " ".join(f"task {j:<3d}" for j in range(n))
    rows = [
        f"{i:>9d} | " + " ".join(f"{100 * a:7.2f}%"[:8].rjust(8) for a in row)
        for i, row in enumerate(matrix)
    ]
    return "\n".join([head, "-" * len(head), *rows])


def run(
    config: RunConfig,
    *,
    data_root: str | Path | None = None,
    device: str = "auto",
    out_dir: str | Path = "runs",
    progress: bool = True,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Train ``config`` end to end; write ``<out_dir>/<stamp>/{config,results}.json``."""
    from metabnn.plugins import AccuracyMatrixPlugin, ProgressPlugin, TaskBatchNormPlugin

    validate(config)
    dev = resolve_device(device)
    run_stamp = stamp(config)
    folder = Path(out_dir) / run_stamp
    # Avalanche plugins (replay buffers, ...) draw from the global generators: seed them too.
    global_seed = derived_seed(config.seed, "global")
    torch.manual_seed(global_seed)
    random.seed(global_seed)
    np.random.seed(global_seed % 2**32)

    stream = STREAMS.get(config.stream.name)(
        config.stream, seed=config.seed, data_root=resolve_data_root(data_root)
    )
    model = build_model(config, stream.input_shape, stream.n_classes)
    batchnorm = TaskBatchNormPlugin() if stream.scenario == "task" else None
    matrix = AccuracyMatrixPlugin(
        stream.test_stream, batch_size=config.train.eval_batch_size, batchnorm=batchnorm
    )
    plugins = [p for p in (batchnorm, matrix, ProgressPlugin(progress)) if p is not None]
    strategy = STRATEGIES.get(config.strategy)(model, config, device=dev, plugins=plugins)
    write_json_atomic(folder / "config.json", {"stamp": run_stamp, "config": to_dict(config)})

    log(f"run {run_stamp}: {config.strategy} on {config.stream.name} "
        f"({config.stream.scenario}-incremental), {config.model.name} "
        f"{list(config.model.hidden)}, m={config.optim.meta}, seed {config.seed}, {dev}")
    start = time.perf_counter()
    for experience in stream.train_stream:
        strategy.train(experience)
        last = matrix.matrix[-1]
        log(f"after experience {experience.current_experience}: "
            + " ".join(f"{100 * a:.2f}" for a in last))
    wall = time.perf_counter() - start

    results = {
        "stamp": run_stamp,
        "config": to_dict(config),
        "seed": config.seed,
        "scenario": stream.scenario,
        "strategy": {
            "name": config.strategy,
            "optimizer_reset": STRATEGIES.entry(config.strategy).info.get("optimizer_reset"),
            "reset_per_experience": config.optim.reset_per_experience,
        },
        "accuracy_matrix": matrix.matrix,
        "curves": matrix.curves,
        "metrics": summarize(matrix.matrix),
        "wall_time_s": wall,
        **provenance(dev),
    }
    write_json_atomic(folder / "results.json", results)
    results["path"] = str(folder / "results.json")
    return results
