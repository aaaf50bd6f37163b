"""How long a recipe's training would take on this machine's CPU, measured, not guessed.

For each distinct network of the plan (model, widths, stream input, minibatch), a few training
steps on random inputs are timed after a warm-up, with the metaplastic optimizer and torch's
current threads; the estimate is that time per step times the steps of every run (tasks x
epochs x minibatches per task). Evaluation, data loading and the hardware simulators are not
counted, so it is a lower bound: what ``metabnn reproduce --scale full`` prints before refusing
to start on a CPU without an explicit ``--device cpu``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

__all__ = ["estimate", "step_seconds"]


def step_seconds(model: torch.nn.Module, input_shape: tuple[int, ...], n_classes: int,
                 batch: int, *, steps: int = 3, meta: float = 1.35) -> float:
    """Median seconds of one training step of ``model`` on random data (after one warm-up)."""
    from metabnn.optim import MetaplasticAdam, metaplastic_param_groups

    gen = torch.Generator().manual_seed(0)
    x = torch.rand((batch, *input_shape), generator=gen)
    y = torch.randint(n_classes, (batch,), generator=gen)
    opt = MetaplasticAdam(metaplastic_param_groups(model, meta), lr=0.005)
    model.train()
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def estimate(plan: Any, *, data_root: str | None = None) -> tuple[float, str]:
    """Seconds of training ``plan`` (a sweep spec or a BER plan) on this CPU, and how."""
    from metabnn.reproduce.recipe import BerPlan

    if isinstance(plan, BerPlan):
        from metabnn.models import BinaryMLP

        cfg = plan.config
        t = step_seconds(BinaryMLP(784, cfg.hidden, 10), (784,), 10, cfg.batch_size)
        steps = 2 * len(plan.seeds) * cfg.epochs * math.ceil(
            (cfg.train_images or 60_000) / cfg.batch_size)
        return steps * t, f"{steps:,} steps at {1e3 * t:.0f} ms measured here"
    from metabnn.benchmarks import build_stream
    from metabnn.runner import build_model, check_data_root, validate
    from metabnn.sweep import expand

    root = check_data_root(data_root)
    cache: dict[str, tuple[Any, float]] = {}
    total, steps_total = 0.0, 0
    for run in expand(plan, validate):
        config = run.config
        key = repr((config.stream.name, config.stream.tasks, config.stream.chunks,
                    config.stream.train_per_task, config.model, config.train.batch_size,
                    config.train.iterations))
        if key not in cache:
            stream = build_stream(config.stream, seed=config.seed, data_root=root)
            images = [len(e.dataset) for e in stream.train_stream]
            model = build_model(config, stream.input_shape, stream.n_classes,
                                stream.head_sizes())
            t = step_seconds(model, tuple(stream.input_shape), stream.n_classes,
                             config.train.batch_size)
            steps = sum(math.ceil(n / config.train.batch_size) for n in images)
            if config.train.iterations is not None:
                steps = config.train.iterations * len(images)
            cache[key] = (steps * config.train.epochs, t)
        steps, t = cache[key]
        total += steps * t
        steps_total += steps
    return total, (f"{steps_total:,} training steps timed here on {torch.get_num_threads()} "
                   "thread(s); evaluation not counted")
