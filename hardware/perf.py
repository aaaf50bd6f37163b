"""Epoch time of hardware simulation next to the software BNN, measured in the same run.

    python -m metabnn.hardware.perf [--data-root DIR] [--hidden 1024 1024] [--repeats 3]
        [--device cpu]

Trains 784-H-H-10 (BinaryMLP, MetaplasticAdam m = 1.35, batch 100) for one epoch on MNIST
(random images if MNIST is absent) in three variants, interleaved repeat by repeat so that
background load hits them alike:

* **software**: the plain BNN (``sign`` kernel quantizers);
* **ideal**: weights in ``ideal`` arrays, synced after every step, ledger counting;
* **rram-2t2r nominal**: the same with the nominal 2T2R preset (errors on written cells).

Prints the median epoch time of each and the ratios of the nominal run to the ideal and to the
software run, repeat by repeat; the issue's bound is ``rram-2t2r nominal / ideal <= 1.25``
(``ideal`` is bit-identical to software, and the software ratio is printed too). It lives in
``hardware/`` rather than ``benchmarks/perf/`` because the import contracts keep ``benchmarks``
and ``hardware`` independent.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from metabnn.config import HardwareConfig
from metabnn.data import load_mnist_like, resolve_data_root
from metabnn.hardware.backend import attach
from metabnn.models import BinaryMLP, init_weights_
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups

VARIANTS = {
    "software": None,
    "ideal": HardwareConfig(name="ideal"),
    "rram-2t2r nominal": HardwareConfig(name="rram-2t2r", condition="nominal"),
}


def _data(root: str | None, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        images, labels = load_mnist_like("MNIST", resolve_data_root(root), True, download=False)
        x = images.flatten(1).float().div_(255.0)[:n]
        y = labels[:n]
    except Exception:  # no MNIST: speed does not depend on pixel values
        gen = torch.Generator().manual_seed(0)
        x, y = torch.rand(n, 784, generator=gen), torch.randint(0, 10, (n,), generator=gen)
    return x.to(device), y.to(device)


def _make(variant: HardwareConfig | None, hidden: list[int], device: torch.device):
    """A fresh model, optimizer and per-step hook for one timed epoch."""
    model = init_weights_(BinaryMLP(784, hidden, 10), 0.05, torch.Generator().manual_seed(1))
    backend = attach(model, variant, seed=0) if variant is not None else None
    model.to(device)
    opt = MetaplasticAdam(metaplastic_param_groups(model, 1.35))
    after: Callable[[], None] = backend.after_update if backend else (lambda: None)
    return model, opt, after


def _epoch(model, opt, after, x, y, batch: int) -> None:
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(2)).to(x.device)
    for start in range(0, len(x), batch):
        idx = order[start : start + batch]
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
        after()


def _timed(fn: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[1024, 1024])
    parser.add_argument("--n", type=int, default=60000, help="images per epoch")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    x, y = _data(args.data_root, args.n, device)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for variant in VARIANTS.values():  # warm-up: 20 steps each
        _epoch(*_make(variant, args.hidden, device), x[:2000], y[:2000], args.batch)
    for _ in range(args.repeats):
        for name, variant in VARIANTS.items():
            parts = _make(variant, args.hidden, device)
            times[name].append(_timed(lambda p=parts: _epoch(*p, x, y, args.batch), device))
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {device}")
    print(f"model 784-{'-'.join(map(str, args.hidden))}-10, batch {args.batch}, "
          f"{len(x)} images, median of {args.repeats} (interleaved)")
    for name, seconds in med.items():
        print(f"{name:>18}: {seconds:7.3f} s/epoch   ratio to software "
              f"{seconds / med['software']:.3f}   runs {[round(t, 2) for t in times[name]]}")
    # ratios repeat by repeat (same background load), then their median
    for base in ("ideal", "software"):
        paired = [n / b for n, b in zip(times["rram-2t2r nominal"], times[base])]
        ratio = statistics.median(paired)
        print(f"rram-2t2r nominal / {base} = {ratio:.3f} (median of paired ratios "
              f"{[round(r, 3) for r in paired]}; {'<=' if ratio <= 1.25 else '>'} 1.25)")


if __name__ == "__main__":
    main()
