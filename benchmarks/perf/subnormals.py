"""Step time of a full-precision MLP whose weights hold subnormal floats, with and without
flushing them to zero (:func:`metabnn.numerics.flush_subnormals`), measured in the same run.

    python -m metabnn.benchmarks.perf.subnormals [--subnormal 610 298] [--steps 100] [--threads 1]

Weight decay drives the weights of always-zero inputs (MNIST's border pixels) below the
smallest normal float32 (1.18e-38): 610 of the 401,408 first-layer and 298 of the 262,144
second-layer weights of fig2's 784-512-512-10 MLP, read from a checkpoint after one task. This
plants that many subnormal weights (magnitude 1e-39, random signs, random places) in a fresh
784-512-512-10 MLP with BatchNorm and times the forward and backward pass (the GEMMs, most of
a training step) on a batch of 100 random images, the weights held fixed: IEEE arithmetic
(subnormals kept) against flush-to-zero. Prints the median over ``--repeats`` and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from metabnn.models import MLP


def _time(subnormal: list[int], flush: bool, steps: int, seed: int) -> float:
    torch.set_flush_denormal(flush)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = MLP(784, (512, 512), 10)
    with torch.no_grad():
        for layer, n in zip(model.layers, subnormal):
            w = layer.weight.view(-1)
            where = torch.randperm(w.numel(), generator=g)[:n]
            w[where] = 1e-39 * (torch.randint(0, 2, (n,), generator=g).float() * 2 - 1)
    x = torch.rand(100, 784, generator=g)
    y = torch.randint(0, 10, (100,), generator=g)
    for _ in range(5):  # warm-up
        model.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
    t0 = time.perf_counter()
    for _ in range(steps):
        model.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
    return (time.perf_counter() - t0) / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subnormal", type=int, nargs="+", default=[610, 298],
                        help="subnormal weights planted per layer, first layer first")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {}
    for flush in (False, True):
        results[flush] = statistics.median(
            _time(args.subnormal, flush, args.steps, seed) for seed in range(args.repeats))
        print(f"flush subnormals={str(flush):<5}  {1000 * results[flush]:.2f} ms/step "
              f"(subnormal weights per layer {args.subnormal}, {args.threads} thread(s))",
              flush=True)
    torch.set_flush_denormal(False)
    print(f"ratio kept/flushed: {results[False] / results[True]:.2f}x")


if __name__ == "__main__":
    main()
