"""Test accuracy of a BNN whose weights are stored at a given bit error rate.

Reproduces the experiment of Hirtzlin et al. (arXiv 1904.03652) on one MNIST task: a binary MLP
is trained twice, with standard training and with error-aware training (random weight sign
flips at rate ``error_aware_ber`` in every training forward pass,
:mod:`metabnn.hardware.error_aware`);
each trained network is then programmed ``repeats`` times into memory arrays whose every write
fails with probability :math:`p` for each :math:`p` in ``bers``, and tested. The paper's claims:
standard training loses little up to :math:`p = 10^{-4}`; error-aware training extends the
tolerance to :math:`4\\times10^{-2}`.

Writes ``<out>/sweep_ber.csv`` (one row per training, BER and repeat), ``<out>/sweep_ber.json``
(the config, those rows, means, losses against p = 0, the two checks, the wall time and the
provenance with the code fingerprint) and ``<out>/sweep_ber.png`` (seaborn).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from metabnn.config import HardwareConfig
from metabnn.data import TensorBatchLoader, load_mnist_like, resolve_data_root
from metabnn.evaluation import accuracy
from metabnn.hardware.array import SynapticArray
from metabnn.hardware.backend import attach
from metabnn.hardware.cells import WriteSpec
from metabnn.layers import binary_layers
from metabnn.models import BinaryMLP, init_weights_
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups
from metabnn.results import provenance, write_json_atomic
from metabnn.seeding import generator

__all__ = ["SweepBERConfig", "sweep_ber", "add_arguments", "main"]


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SweepBERConfig:
    bers: tuple[float, ...] = _f((0.0, 1e-4, 1e-3, 1e-2, 4e-2, 1e-1),
                                 "bit error rates per write at which the weights are stored")
    hidden: tuple[int, ...] = _f((256, 256), "hidden layer widths of the binary MLP")
    epochs: int = _f(3, "training epochs on MNIST")
    train_images: int | None = _f(None, "use only this many training images (all 60,000)")
    error_aware_ber: float = _f(
        4e-2, "flip rate of error-aware training (Hirtzlin et al. 1904.03652: 4e-2)")
    repeats: int = _f(5, "independent programmings of the trained weights per BER")
    lr: float = _f(0.005, "Adam learning rate (Laborieux et al. 2021)")
    batch_size: int = _f(100, "training minibatch")
    seed: int = _f(0, "seed of the data order, the initial weights and the error draws")


def _mnist(root: Path, train: bool, n: int | None, gen: torch.Generator):
    images, labels = load_mnist_like("MNIST", root, train)
    x = images.flatten(1).float().div_(255.0)  # (N, 784) in [0, 1]
    if n is not None and n < len(labels):
        idx = torch.randperm(len(labels), generator=gen)[:n]
        x, labels = x[idx], labels[idx]
    return x, labels


def _train(cfg: SweepBERConfig, flip_rate: float, x: torch.Tensor, y: torch.Tensor) -> nn.Module:
    model = init_weights_(BinaryMLP(784, cfg.hidden, 10), 0.05, generator(cfg.seed, "init"))
    backend = attach(model, HardwareConfig(name="ideal", error_aware_ber=flip_rate),
                     seed=cfg.seed)
    opt = MetaplasticAdam(metaplastic_param_groups(model, 0.0), lr=cfg.lr)
    loader = TensorBatchLoader((x, y), cfg.batch_size, generator=generator(cfg.seed, "order"))
    model.train()
    for _ in range(cfg.epochs):
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
            backend.after_update()
    backend.remove_hooks()
    return model


@torch.no_grad()
def _program(model: nn.Module, ber: float, gen: torch.Generator) -> None:
    """Store the trained signs in fresh arrays whose writes fail with probability ``ber``."""
    spec = WriteSpec("sweep", ber, 0.0)
    for name, layer in binary_layers(model):
        layer.kernel_quantizer = SynapticArray(layer.weight, spec, generator=gen, name=name)


def sweep_ber(
    cfg: SweepBERConfig, *, data_root: str | Path | None, out: str | Path, log: Any = print
) -> dict[str, Any]:
    """Train both ways, test at every BER; write the CSV, JSON and plot; return the summary."""
    root = resolve_data_root(data_root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    data_gen = generator(cfg.seed, "sweep-data")
    x_tr, y_tr = _mnist(root, True, cfg.train_images, data_gen)
    x_te, y_te = _mnist(root, False, None, data_gen)
    rows: list[dict[str, Any]] = []
    for training, rate in (("standard", 0.0), ("error-aware", cfg.error_aware_ber)):
        start = time.perf_counter()
        model = _train(cfg, rate, x_tr, y_tr)
        log(f"trained {training} (flip rate {rate:g}) in {time.perf_counter() - start:.0f} s")
        gen = generator(cfg.seed, f"sweep-errors:{training}")
        for ber in cfg.bers:
            for r in range(cfg.repeats):
                _program(model, ber, gen)
                acc = accuracy(model, x_te, y_te, 1000)
                rows.append({"training": training, "train_flip_rate": rate, "ber": ber,
                             "repeat": r, "accuracy": acc})
    # the rows, the wall time and the code fingerprint: a reproduction is rebuilt from this file
    summary = {**_summarize(cfg, rows), "rows": rows,
               "wall_time_s": time.perf_counter() - began, **provenance("cpu")}
    with open(out / "sweep_ber.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_json_atomic(out / "sweep_ber.json", summary)
    _plot(rows, out / "sweep_ber.png")
    for line in _format(summary):
        log(line)
    log(f"wrote {out / 'sweep_ber.csv'}, {out / 'sweep_ber.json'}, {out / 'sweep_ber.png'}")
    return summary


def _summarize(cfg: SweepBERConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    table: dict[str, dict[str, dict[str, float]]] = {}
    for training in ("standard", "error-aware"):
        accs = {b: [r["accuracy"] for r in rows if r["training"] == training and r["ber"] == b]
                for b in cfg.bers}
        clean = statistics.mean(accs[cfg.bers[0]])
        table[training] = {
            f"{b:g}": {"mean": statistics.mean(a), "std": statistics.pstdev(a),
                       "loss_points": 100 * (clean - statistics.mean(a))}
            for b, a in accs.items()
        }
    checks = {}
    if "0.0001" in table["standard"]:
        checks["standard_loses_at_most_1_point_at_1e-4"] = (
            table["standard"]["0.0001"]["loss_points"] <= 1.0)
    if "0.04" in table["standard"]:
        checks["error_aware_loses_less_at_4e-2"] = (
            table["error-aware"]["0.04"]["loss_points"] < table["standard"]["0.04"]["loss_points"])
    return {"config": dataclasses.asdict(cfg), "accuracy": table, "checks": checks}


def _format(summary: dict[str, Any]) -> list[str]:
    table = summary["accuracy"]
    bers = list(table["standard"])
    lines = ["BER          " + " ".join(f"{b:>15}" for b in bers)]
    for training, cells in table.items():
        lines.append(f"{training:<12} " + " ".join(
            f"{100 * c['mean']:6.2f} ({-c['loss_points']:+5.2f})" for c in cells.values()))
    lines.append("(test accuracy %, in brackets the change in points against BER 0)")
    lines += [f"check {k}: {'PASS' if v else 'FAIL'}" for k, v in summary["checks"].items()]
    return lines


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    frame = pd.DataFrame(rows)
    frame["accuracy (%)"] = 100 * frame["accuracy"]
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(frame, x="ber", y="accuracy (%)", hue="training", marker="o",
                 errorbar="sd", ax=ax)
    ax.set_xscale("symlog", linthresh=1e-4)
    ax.set_xlim(0, 1.5 * frame["ber"].max())
    ax.set_xlabel("bit error rate per write")
    ax.set_title("BNN on MNIST with weights in error-prone memory")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's options, one per :class:`SweepBERConfig` field, with their defaults."""
    for f in dataclasses.fields(SweepBERConfig):
        default = f.default
        extra: dict[str, Any] = {}
        if isinstance(default, tuple):
            extra = {"nargs": "+", "type": type(default[0])}
        elif f.name == "train_images":
            extra = {"type": int}
        else:
            extra = {"type": type(default)}
        shown = list(default) if isinstance(default, tuple) else default
        parser.add_argument(f"--{f.name.replace('_', '-')}", default=None,
                            help=f"{f.metadata['help']} (default: {shown})", **extra)
    parser.add_argument("--data-root", default=None,
                        help="dataset folder (default: $METABNN_DATA, else ~/.cache/metabnn/data)")
    parser.add_argument("--out", default="runs/sweep-ber",
                        help="folder for the CSV, JSON and plot (default: runs/sweep-ber)")


def main(args: argparse.Namespace) -> int:
    """Run the sweep from parsed :func:`add_arguments` options; 0 when both checks pass."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(SweepBERConfig)
              if getattr(args, f.name) is not None}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    summary = sweep_ber(SweepBERConfig(**values), data_root=args.data_root, out=args.out)
    return 0 if all(summary["checks"].values()) else 1
