"""The ``metabnn`` command line: ``metabnn run``, ``metabnn list``.

Options map one to one onto :class:`~metabnn.config.RunConfig` fields; their help texts and
defaults come from the config's field metadata, so ``--help`` and the config never disagree.
A config file (JSON or YAML) can be given with ``--config``, and any field set with
``--set section.field=value``; explicit flags win over both. Bad input is reported in one line
with exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metabnn.config import (
    ConfigError,
    HardwareConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    StreamConfig,
    TrainConfig,
    from_dict,
    help_of,
)

__all__ = ["main", "build_parser", "config_from_args"]

# (flag, config path, dataclass, field, argparse extras)
_FLAGS: list[tuple[str, str, type, str, dict[str, Any]]] = [
    ("--stream", "stream.name", StreamConfig, "name", {}),
    ("--tasks", "stream.tasks", StreamConfig, "tasks", {"type": int}),
    ("--scenario", "stream.scenario", StreamConfig, "scenario", {}),
    ("--train-per-task", "stream.train_per_task", StreamConfig, "train_per_task", {"type": int}),
    ("--test-per-task", "stream.test_per_task", StreamConfig, "test_per_task", {"type": int}),
    ("--chunks", "stream.chunks", StreamConfig, "chunks", {"type": int}),
    ("--model", "model.name", ModelConfig, "name", {}),
    ("--hidden", "model.hidden", ModelConfig, "hidden", {"type": int, "nargs": "+"}),
    ("--init-width", "model.init_width", ModelConfig, "init_width", {"type": float}),
    ("--meta", "optim.meta", OptimConfig, "meta", {"type": float}),
    ("--lr", "optim.lr", OptimConfig, "lr", {"type": float}),
    ("--weight-decay", "optim.weight_decay", OptimConfig, "weight_decay", {"type": float}),
    ("--epochs", "train.epochs", TrainConfig, "epochs", {"type": int}),
    ("--batch-size", "train.batch_size", TrainConfig, "batch_size", {"type": int}),
    ("--eval-batch-size", "train.eval_batch_size", TrainConfig, "eval_batch_size",
     {"type": int}),
    ("--strategy", "strategy", RunConfig, "strategy", {}),
    ("--seed", "seed", RunConfig, "seed", {"type": int}),
    ("--hardware", "hardware.name", HardwareConfig, "name", {}),
    ("--condition", "hardware.condition", HardwareConfig, "condition", {}),
    ("--ber", "hardware.ber", HardwareConfig, "ber", {"type": float}),
    ("--prog-energy-pj", "hardware.prog_energy_pj", HardwareConfig, "prog_energy_pj",
     {"type": float}),
    ("--sc-bits", "hardware.sc_bits", HardwareConfig, "sc_bits", {"type": int}),
    ("--error-aware-ber", "hardware.error_aware_ber", HardwareConfig, "error_aware_ber",
     {"type": float}),
]

_BOOL_FLAGS = [
    ("--track-running-stats", "model.track_running_stats", ModelConfig, "track_running_stats"),
    ("--reset-optimizer", "optim.reset_per_experience", OptimConfig, "reset_per_experience"),
    ("--ternary", "hardware.ternary", HardwareConfig, "ternary"),
]


def _default(cls: type, name: str) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"metabnn: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="metabnn", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run", help="train a strategy on a stream and write runs/<stamp>/results.json",
        description="Train a strategy on a stream; write runs/<stamp>/{config,results}.json.",
    )
    for flag, _, cls, name, extra in _FLAGS:
        default = _default(cls, name)
        shown = list(default) if isinstance(default, tuple) else default
        run.add_argument(flag, default=None, help=f"{help_of(cls, name)} (default: {shown})",
                         **extra)
    for flag, _, cls, name in _BOOL_FLAGS:
        run.add_argument(flag, default=None, action=argparse.BooleanOptionalAction,
                         help=f"{help_of(cls, name)} (default: {_default(cls, name)})")
    run.add_argument("--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                     help="a strategy hyperparameter, e.g. --param ewc_lambda=5000 (repeatable)")
    run.add_argument("--config", type=Path, default=None,
                     help="JSON or YAML file with (part of) a run config")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override one config field, e.g. --set optim.meta=1.0 (repeatable)")
    run.add_argument("--data-root", default=None,
                     help="dataset folder (default: $METABNN_DATA, else ~/.cache/metabnn/data)")
    run.add_argument("--device", default="auto",
                     help="auto (CUDA when available), cpu, cuda or cuda:N (default: auto)")
    run.add_argument("--out", default="runs",
                     help="folder for run folders <out>/<stamp>/ (default: runs)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    lst = sub.add_parser("list", help="list registered streams, strategies or models")
    lst.add_argument("kind", choices=["streams", "strategies", "models"])
    return parser


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        node = data.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{path}: {key} is not a section")
        data = node
    data[leaf] = value


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """File, then ``--set`` overrides, then explicit flags; validated."""
    import yaml

    data: dict[str, Any] = {}
    if args.config is not None:
        try:
            text = args.config.read_text()
        except OSError as err:
            raise ConfigError(f"--config {args.config}: {err.strerror}") from None
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config {args.config}: expected a mapping at the top level")
        data = loaded
    for item in args.overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r} is invalid: expected KEY=VALUE")
        _set_path(data, key.strip(), yaml.safe_load(raw))
    for item in args.params:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--param {item!r} is invalid: expected KEY=VALUE")
        data.setdefault("params", {})[key.strip()] = yaml.safe_load(raw)
    for flag, path, *_ in _FLAGS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            _set_path(data, path, value)
    for flag, path, *_ in _BOOL_FLAGS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            _set_path(data, path, value)
    return from_dict(RunConfig, data).validate()


def _list(kind: str) -> None:
    if kind == "streams":
        from benchmarks import STREAMS as reg
    elif kind == "strategies":
        from baselines import STRATEGIES as reg
    else:
        from metabnn.models import MODELS as reg
    for entry in reg.entries():
        info = ", ".join(
            f"{k}: {json.dumps(v) if not isinstance(v, str) else v}" for k, v in entry.info.items()
        )
        print(f"{entry.name:<12} {entry.description}")
        if info:
            print(f"{'':<12} {info}")


def _run(args: argparse.Namespace) -> None:
    from metabnn.runner import format_matrix, run, validate

    config = validate(config_from_args(args))
    results = run(
        config, data_root=args.data_root, device=args.device, out_dir=args.out,
        progress=not args.no_progress,
    )
    metrics = results["metrics"]
    print("\naccuracy matrix R[i, j] (test accuracy on task j after experience i):")
    print(format_matrix(results["accuracy_matrix"]))
    print(f"\naverage accuracy {100 * metrics['average_accuracy']:.2f}%  "
          f"BWT {100 * metrics['backward_transfer']:+.2f}  "
          f"forgetting {100 * metrics['forgetting']:.2f} (Chaudhry et al. 2018)  "
          f"wall {results['wall_time_s']:.0f}s")
    print(f"results: {results['path']}")


def main(argv: Sequence[str] | None = None) -> int:
    from metabnn.data import DataNotFoundError
    from metabnn.registry import UnknownNameError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            _list(args.kind)
        elif args.command == "run":
            _run(args)
    except (ConfigError, UnknownNameError, DataNotFoundError, ValueError) as err:
        print(f"metabnn: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metabnn: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
