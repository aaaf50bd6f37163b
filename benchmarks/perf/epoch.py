"""Epoch time of the metaplastic BNN next to a bare PyTorch loop, measured in the same run.

    python -m metabnn.benchmarks.perf.epoch [--hidden 1024 1024] [--repeats 3] [--device cpu]

Both train 784-H-H-10 with BatchNorm, batch 100, on 60,000 in-memory MNIST-shaped images:

* **bare**: ``nn.Linear`` + ``BatchNorm1d`` + ReLU, ``torch.optim.Adam``, a plain Python loop
  over index-gathered minibatches — the fastest honest PyTorch baseline;
* **ours**: :class:`~metabnn.models.BinaryMLP` + :class:`~metabnn.optim.MetaplasticAdam`
  (m = 1.35), the same loop;
* **ours-foreach** (on CPU) or **ours-per-param** (on CUDA): the same with the other of
  MetaplasticAdam's two uncompiled implementations (``ours`` runs the device's default:
  per-parameter in-place ops on CPU, multi-tensor ``_foreach`` ops on CUDA);
* **ours-fused**: the same with ``MetaplasticAdam(fused=True)`` (one compiled kernel per
  parameter update);
* **avalanche** (``--avalanche``): ours inside :class:`~metabnn.strategies.MetaplasticStrategy`
  (one experience, one epoch), to price Avalanche's per-iteration callbacks.

Prints medians over ``--repeats`` runs (after one warm-up) and the ratios to the bare loop.
The data are random images: speed does not depend on pixel values.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from metabnn.models import MLP, BinaryMLP, init_weights_
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups


def _epoch(model, opt, x, y, batch, gen) -> None:
    order = torch.randperm(len(x), generator=gen).to(x.device)
    for start in range(0, len(x), batch):
        idx = order[start : start + batch]
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_interleaved(fns: dict, device, repeats: int) -> dict[str, float]:
    """Median seconds per call of each function; the candidates alternate within every repeat
    so that load from other processes falls on all of them alike, and their order rotates from
    one repeat to the next so that none always runs after the same one (a compiled kernel's
    idle OpenMP threads, for one, slow down whatever follows them)."""
    for fn in fns.values():
        fn()  # warm-up
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            fn = fns[name]
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[1024, 1024])
    parser.add_argument("--n", type=int, default=60000, help="images per epoch")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--avalanche", action="store_true", help="also time the strategy")
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.n, 784, generator=gen).to(device)
    y = torch.randint(0, 10, (args.n,), generator=gen).to(device)

    bare = init_weights_(MLP(784, args.hidden, 10), 0.05, torch.Generator().manual_seed(1))
    bare.to(device)
    bare_opt = torch.optim.Adam(bare.parameters(), lr=0.005, weight_decay=1e-7)
    ours = init_weights_(BinaryMLP(784, args.hidden, 10), 0.05, torch.Generator().manual_seed(1))
    ours.to(device)
    ours_opt = MetaplasticAdam(metaplastic_param_groups(ours, 1.35))
    other = init_weights_(BinaryMLP(784, args.hidden, 10), 0.05, torch.Generator().manual_seed(1))
    other.to(device)
    on_cuda = device.type == "cuda"
    other_opt = MetaplasticAdam(metaplastic_param_groups(other, 1.35), foreach=not on_cuda)
    fused = init_weights_(BinaryMLP(784, args.hidden, 10), 0.05, torch.Generator().manual_seed(1))
    fused.to(device)
    fused_opt = MetaplasticAdam(metaplastic_param_groups(fused, 1.35), fused=True)

    candidates = {
        "bare": lambda: _epoch(bare, bare_opt, x, y, args.batch, gen),
        "ours": lambda: _epoch(ours, ours_opt, x, y, args.batch, gen),
        "ours-per-param" if on_cuda else "ours-foreach":
            lambda: _epoch(other, other_opt, x, y, args.batch, gen),
        "ours-fused": lambda: _epoch(fused, fused_opt, x, y, args.batch, gen),
    }
    if args.avalanche:
        candidates["avalanche"] = _avalanche_epoch(ours, x, y, args.batch, device)
    results = _time_interleaved(candidates, device, args.repeats)

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {device}")
    print(f"model 784-{'-'.join(map(str, args.hidden))}-10, batch {args.batch}, "
          f"{args.n} images, median of {args.repeats}")
    for name, seconds in results.items():
        print(f"{name:>12}: {seconds:7.3f} s/epoch   ratio to bare {seconds / results['bare']:.3f}")
    if "avalanche" in results:
        print(f"avalanche / ours: {results['avalanche'] / results['ours']:.3f}")


def _avalanche_epoch(model, x, y, batch, device):
    from metabnn.benchmarks.tensor_streams import benchmark_from_tensors
    from metabnn.strategies import MetaplasticStrategy

    bench = benchmark_from_tensors([(x.cpu(), y.cpu(), 0)], [(x[:1000].cpu(), y[:1000].cpu(), 0)])
    strategy = MetaplasticStrategy(
        model=model, meta=1.35, train_mb_size=batch, train_epochs=1, device=device
    )
    experience = bench.train_stream[0]
    return lambda: strategy.train(experience)


if __name__ == "__main__":
    main()
