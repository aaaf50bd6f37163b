"""The ``metabnn`` command line: run, list, runs, compare, sweep, sweep-ber, leaderboard,
reproduce.

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
import os
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
    ("--head", "stream.head", StreamConfig, "head", {}),
    ("--batchnorm", "stream.batchnorm", StreamConfig, "batchnorm", {}),
    ("--ood", "stream.ood", StreamConfig, "ood", {}),
    ("--model", "model.name", ModelConfig, "name", {}),
    ("--hidden", "model.hidden", ModelConfig, "hidden", {"type": int, "nargs": "+"}),
    ("--init-width", "model.init_width", ModelConfig, "init_width", {"type": float}),
    ("--bn-weight-init", "model.bn_weight_init", ModelConfig, "bn_weight_init", {}),
    ("--sign-zero", "model.sign_zero", ModelConfig, "sign_zero", {}),
    ("--channels", "model.channels", ModelConfig, "channels", {"type": int, "nargs": "+"}),
    ("--meta", "optim.meta", OptimConfig, "meta", {"type": float}),
    ("--lr", "optim.lr", OptimConfig, "lr", {"type": float}),
    ("--weight-decay", "optim.weight_decay", OptimConfig, "weight_decay", {"type": float}),
    ("--eps-placement", "optim.eps_placement", OptimConfig, "eps_placement", {}),
    ("--epochs", "train.epochs", TrainConfig, "epochs", {"type": int}),
    ("--iterations", "train.iterations", TrainConfig, "iterations", {"type": int}),
    ("--batch-size", "train.batch_size", TrainConfig, "batch_size", {"type": int}),
    ("--eval-every", "train.eval_every", TrainConfig, "eval_every", {}),
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
    parser.add_argument("--plugins", action="append", default=[], metavar="MODULE",
                        help="import a module (or a .py file) of your own strategies, streams, "
                        "models or hardware cells first (repeatable; also $METABNN_PLUGINS, "
                        "comma-separated, and entry points of the group metabnn.plugins)")
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
    run.add_argument("--calibration", type=Path, default=None, metavar="FILE.csv",
                     help="a measured cell for --hardware table: a CSV with columns "
                     "condition,ber,e_write_pj (its rows become hardware.calibration)")
    run.add_argument("--stream-param", dest="stream_params", action="append", default=[],
                     metavar="KEY=VALUE",
                     help="a parameter of the stream, e.g. --stream-param angles='[0, 45]' "
                     "(repeatable; `metabnn list streams` lists each stream's)")
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
    run.add_argument("--resume", action="store_true",
                     help="continue from the run folder's last checkpoint (a rerun of a stamp "
                     "the registry has as running or failed does so anyway; --force starts "
                     "over) (default: off)")
    run.add_argument("--checkpoint-every", type=int, default=1, metavar="EPOCHS",
                     help="write <out>/<stamp>/checkpoint.pt every this many epochs and at "
                     "every experience end; 0: never (default: 1)")
    run.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED",
                     help="run the config once per seed, each a run of its own (stamp, "
                     "results.json); replaces --seed (default: one run with --seed)")
    run.add_argument("--batched-seeds", action="store_true",
                     help="with --seeds: train all seeds at once as one batched model (meta "
                     "strategy, bnn model, task or domain scenario); each seed's results equal "
                     "its separate run's (default: off, one run after another)")
    run.add_argument("--batched-kernels", default=None, metavar="KIND",
                     help="with --batched-seeds: threads (CPU: the seeds side by side, one per "
                     "CPU thread), per-seed (one after another; bitwise equal to separate runs "
                     "on the same threads), batched (one bmm for all seeds) or auto (default: "
                     "auto = threads on CPU, batched on a GPU)")
    _add_tracking_args(run)

    lst = sub.add_parser("list", help="list registered streams, strategies, models or hardware")
    lst.add_argument("kind", choices=["streams", "strategies", "models", "hardware"])
    from metabnn.hardware import sweep_ber

    sweep_ber.add_arguments(sub.add_parser(
        "sweep-ber", help="test accuracy vs weight bit error rate, standard vs error-aware "
        "training (CSV + plot)", description=sweep_ber.__doc__.split("\n")[0]))
    runs = sub.add_parser("runs", help="list the run registry (`runs show STAMP`: one run)",
                          description="List the runs of the registry, newest last.")
    runs.add_argument("--registry", type=Path, default=None, help=_REGISTRY_HELP)
    runs.add_argument("--out", default="runs", help="the runs folder (default: runs)")
    for col in ("status", "strategy", "stream", "sweep"):
        runs.add_argument(f"--{col}", default=None, help=f"only runs with this {col}")
    runs.add_argument("--format", choices=["text", "csv", "json"], default="text",
                      help="text: a table; csv: one line a run, config and metrics as dotted "
                      "columns; json: every column (default: text)")
    show = runs.add_subparsers(dest="runs_command", parser_class=_Parser).add_parser(
        "show", help="print one run: config, status, error, metrics, provenance")
    show.add_argument("stamp", help="a stamp or an unambiguous prefix of one")
    # also accepted after the stamp; SUPPRESS keeps a value given before `show`
    show.add_argument("--registry", type=Path, default=argparse.SUPPRESS, help=_REGISTRY_HELP)
    show.add_argument("--out", default=argparse.SUPPRESS, help="the runs folder (default: runs)")

    compare = sub.add_parser(
        "compare", help="done runs side by side: accuracy, BWT, forgetting (mean ± sd over "
        "seeds), final matrix row and the settings that differ",
        description="Put done runs side by side, one row per configuration over its seeds: "
        "by STAMP (or prefix), by --sweep, or by --strategy/--stream filters.")
    compare.add_argument("stamps", nargs="*", metavar="STAMP",
                         help="runs to compare (default: every done run the filters match)")
    for col in ("sweep", "strategy", "stream"):
        compare.add_argument(f"--{col}", default=None, help=f"only runs with this {col}")
    compare.add_argument("--format", choices=["text", "csv", "json", "md"], default="text",
                         help="text, csv, json or md (Markdown) (default: text)")
    compare.add_argument("--registry", type=Path, default=None, help=_REGISTRY_HELP)
    compare.add_argument("--out", default="runs", help="the runs folder (default: runs)")

    sweep = sub.add_parser("sweep", help="run a grid of runs from a sweep YAML file",
                           description="Expand SWEEP.yaml (base config x grid x seeds) and run "
                           "every run not done yet; see metabnn.sweep for the file format.")
    sweep.add_argument("file", type=Path, metavar="SWEEP.yaml", help="the sweep file")
    sweep.add_argument("--backend", choices=["local", "ray", "slurm"], default="local",
                       help="local: a process pool; ray: Ray tasks (pip install -e '.[ray]'); "
                       "slurm: a SLURM job array via submitit (pip install -e '.[slurm]') "
                       "(default: local)")
    sweep.add_argument("--workers", type=int, default=1,
                       help="parallel runs (local processes, or CPUs of a local Ray) (default: 1)")
    sweep.add_argument("--ray-address", default=None,
                       help="an existing Ray cluster, e.g. ray://head:10001 or auto (default: "
                       "start a local Ray for the sweep)")
    sweep.add_argument("--dry-run", action="store_true",
                       help="print the expanded grid with each stamp's registry status; run "
                       "nothing")
    sweep.add_argument("--data-root", default=None,
                       help="dataset folder (default: $METABNN_DATA, else ~/.cache/metabnn/data)")
    sweep.add_argument("--device", default="cpu", help="device of every run (default: cpu)")
    sweep.add_argument("--out", default="runs",
                       help="folder for run folders and sweeps/<name>/ (default: runs)")
    slurm = sweep.add_argument_group(
        "slurm backend", "each run one task of a job array; the tasks write their results "
        "files to --out (a shared file system), this process alone records them in the "
        "registry (keep it on a local disk: --registry); rerun the sweep to gather what "
        "finished and resubmit only what is neither done nor queued")
    slurm.add_argument("--slurm-partition", default=None, help="the partition (default: the "
                       "cluster's default)")
    slurm.add_argument("--slurm-time", type=int, default=60, metavar="MIN",
                       help="time limit of each run in minutes; a run that runs out continues "
                       "from its checkpoint when the sweep is rerun (default: 60)")
    slurm.add_argument("--slurm-mem", type=float, default=8.0, metavar="GB",
                       help="memory of each run in GB (default: 8)")
    slurm.add_argument("--slurm-cpus", type=int, default=1,
                       help="CPUs of each run, its torch threads (default: 1)")
    slurm.add_argument("--slurm-gpus", type=int, default=0,
                       help="GPUs of each run (default: 0; with --device cuda)")
    slurm.add_argument("--slurm-parallelism", type=int, default=64,
                       help="most runs of the array running at once (default: 64)")
    slurm.add_argument("--slurm-account", default=None, help="the account to charge")
    slurm.add_argument("--slurm-qos", default=None, help="the quality of service")
    slurm.add_argument("--slurm-option", action="append", default=[], metavar="KEY=VALUE",
                       help="any other sbatch option, e.g. constraint=a100 (repeatable)")
    slurm.add_argument("--slurm-folder", default=None,
                       help="submitit's logs and job files (default: <out>/sweeps/<name>/slurm)")
    slurm.add_argument("--slurm-cluster", choices=["slurm", "local"], default="slurm",
                       help="slurm: sbatch; local: each task a process of this machine, the same "
                       "code path without a cluster (default: slurm)")
    slurm.add_argument("--slurm-no-wait", action="store_true",
                       help="submit and return; rerun the sweep later to gather the runs")
    _add_tracking_args(sweep)

    from metabnn.leaderboard import command as leaderboard

    leaderboard.add_arguments(sub.add_parser(
        "leaderboard", help="build leaderboards from recorded runs, or check results files",
        description="Leaderboards: `build` the tables and page of leaderboards/ from its "
        "recorded runs; `check` results files before they enter a board."))

    from metabnn.reproduce import command as reproduce

    reproduce.add_arguments(sub.add_parser(
        "reproduce", help="reproduce a paper's experiment from a recipe (quick on a CPU, full "
        "on a GPU), with its figure, table and comparison with the paper",
        description="Reproduce a paper's figure or table: `metabnn reproduce --list` lists "
        "the recipes; `metabnn reproduce NAME --scale quick|full` runs one."))

    return parser


_REGISTRY_HELP = ("run registry SQLite file (default: $METABNN_REGISTRY, else "
                  "<out>/registry.sqlite)")


def _add_tracking_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wandb", choices=["online", "offline", "disabled"], default=None,
                        help="Weights & Biases logging; online falls back to offline without an "
                        "API key or network; offline runs sync later with `wandb sync` "
                        "(default: $WANDB_MODE, else online when possible, else offline)")
    parser.add_argument("--wandb-project", default=None,
                        help="W&B project (default: $WANDB_PROJECT, else metabnn)")
    parser.add_argument("--wandb-entity", default=None,
                        help="W&B entity, a user or team (default: $WANDB_ENTITY, else the API "
                        "key's default entity)")
    parser.add_argument("--registry", type=Path, default=None, help=_REGISTRY_HELP)
    parser.add_argument("--force", action="store_true",
                        help="rerun stamps the registry already has as done")
    parser.add_argument("--allow-stale", action="store_true",
                        help="reuse a run done by other code (another code fingerprint: "
                        "sources, library versions or thread count) instead of rerunning it; "
                        "it is marked STALE wherever it is shown (default: rerun it)")


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        node = data.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{path}: {key} is not a section")
        data = node
    data[leaf] = value


def _yaml(text: str, where: str) -> Any:
    """``text`` parsed as YAML; a syntax error is a one-line :class:`ConfigError`."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise ConfigError(f"{where} is invalid YAML: {problem}{at}") from None


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """File, then ``--set`` overrides, then explicit flags; validated."""
    data: dict[str, Any] = {}
    if args.config is not None:
        from metabnn.files import read_text

        text = read_text(args.config, "--config")
        loaded = _yaml(text, f"--config {args.config}") or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config {args.config}: expected a mapping at the top level")
        data = loaded
    for item in args.overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r} is invalid: expected KEY=VALUE")
        _set_path(data, key.strip(), _yaml(raw, f"--set {item!r}"))
    for item in args.params:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--param {item!r} is invalid: expected KEY=VALUE")
        data.setdefault("params", {})[key.strip()] = _yaml(raw, f"--param {item!r}")
    for item in getattr(args, "stream_params", []):
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--stream-param {item!r} is invalid: expected KEY=VALUE")
        stream = data.setdefault("stream", {})
        if not isinstance(stream, dict):
            raise ConfigError(f"stream={stream!r} is invalid: expected a mapping")
        stream.setdefault("params", {})[key.strip()] = _yaml(raw, f"--stream-param {item!r}")
    for flag, path, *_ in _FLAGS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            _set_path(data, path, value)
    for flag, path, *_ in _BOOL_FLAGS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            _set_path(data, path, value)
    if getattr(args, "calibration", None) is not None:
        from metabnn.hardware.cells import read_calibration

        _set_path(data, "hardware.calibration", [list(r) for r in read_calibration(
            args.calibration)])
    return from_dict(RunConfig, data).validate()


def _list(kind: str) -> None:
    if kind == "streams":
        from metabnn.benchmarks import stream_table

        print(stream_table())
        return
    elif kind == "strategies":
        from metabnn.baselines import strategy_table

        print(strategy_table())
        return
    elif kind == "hardware":
        from metabnn.hardware import listing

        print("\n".join(listing()))
        return
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
    from metabnn.console import outcome_text
    from metabnn.runner import check_data_root, ignored, resolve_device, run, validate

    given = config_from_args(args)
    config = validate(given)
    for what in ignored(given):  # one experiment, one stamp: dropped from the resolved config
        print(f"metabnn: warning: ignored {what}", file=sys.stderr)
    if args.checkpoint_every < 0:
        raise ConfigError(f"--checkpoint-every={args.checkpoint_every} is invalid: must be >= 0 "
                          "(0: no checkpoints)")
    resolve_device(args.device)
    check_data_root(args.data_root)
    mode, reason = _wandb_mode(args.wandb)
    if args.batched_seeds and not args.seeds:
        raise ConfigError("--batched-seeds needs --seeds, e.g. --seeds 0 1 2 3 --batched-seeds")
    if args.batched_kernels is not None and not args.batched_seeds:
        raise ConfigError(f"--batched-kernels {args.batched_kernels} needs --batched-seeds")
    if args.seeds:
        from metabnn.multiseed import format_seeds, run_seeds

        kernels = {"kernels": args.batched_kernels or "auto"} if args.batched_seeds else {}
        print(format_seeds(run_seeds(
            config, args.seeds, batched=args.batched_seeds, data_root=args.data_root,
            device=args.device, out_dir=args.out, progress=not args.no_progress,
            registry=args.registry, force=args.force, wandb=mode, wandb_reason=reason,
            resume=args.resume, checkpoint_every=args.checkpoint_every,
            allow_stale=args.allow_stale, **kernels)))
        return
    results = run(
        config, data_root=args.data_root, device=args.device, out_dir=args.out,
        progress=not args.no_progress, registry=args.registry, force=args.force, wandb=mode,
        wandb_reason=reason, resume=args.resume, checkpoint_every=args.checkpoint_every,
        allow_stale=args.allow_stale,
    )
    print(outcome_text(results, results["path"]))


def _wandb_mode(requested: str | None) -> tuple[str, str]:
    from metabnn.tracking import resolve_mode

    mode, reason = resolve_mode(requested)
    return mode, ("" if reason.endswith("as requested") or mode == "online" else reason)


def _wandb_target(args: argparse.Namespace) -> None:
    """``--wandb-project/--wandb-entity`` as W&B's own environment variables, which every
    worker of a sweep (process pool, Ray, SLURM tasks) inherits."""
    for flag, env in (("wandb_project", "WANDB_PROJECT"), ("wandb_entity", "WANDB_ENTITY")):
        value = getattr(args, flag, None)
        if value is not None:
            if not value.strip() or any(c.isspace() for c in value):
                raise ConfigError(f"--{flag.replace('_', '-')} {value!r} is invalid: a W&B "
                                  "name has no spaces")
            os.environ[env] = value


def _runs(args: argparse.Namespace) -> None:
    from metabnn.runs import RunRegistry, default_registry_path, format_run, format_runs

    path = args.registry or default_registry_path(args.out)
    if not Path(path).exists():
        raise ConfigError(f"no run registry at {path} (--registry PATH or --out DIR)")
    db = RunRegistry(path)
    if args.runs_command == "show":
        row = db.get(args.stamp)
        if row is None:
            raise ConfigError(f"no run {args.stamp!r} in {path}")
        print(format_run(row))
        return
    rows = db.list(status=args.status, strategy=args.strategy, stream=args.stream,
                   sweep=args.sweep)
    if args.format != "text":
        from metabnn.runs import export_runs

        print(export_runs(rows, args.format), end="" if args.format == "csv" else "\n")
        return
    print(format_runs(rows))
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "running")}
    print(f"{len(rows)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f" ({path})")


def _sweep(args: argparse.Namespace) -> int:
    from metabnn.runner import validate
    from metabnn.runs import RunRegistry, default_registry_path
    from metabnn.sweep import expand, load_sweep, run_sweep

    spec = load_sweep(args.file)
    if args.dry_run:
        from metabnn.sweep import _threads, classify

        runs = expand(spec, validate)
        path = args.registry or default_registry_path(args.out)
        db = RunRegistry(path) if Path(path).exists() else None
        threads = {"ray": 1, "slurm": args.slurm_cpus}.get(args.backend) or _threads(args.workers)
        state = classify(runs, db, args.device, threads=threads, force=args.force,
                         allow_stale=args.allow_stale) if db else {}
        for i, r in enumerate(runs):
            status = (db.status(r.stamp) if db else None) or "new"
            if state.get(r.stamp, "").startswith("stale"):
                status = "stale"  # done by other code
            label = " ".join(f"{k}={v}" for k, v in r.point.items())
            print(f"{i:>4}  {r.stamp}  {status:<7}  {label}")
        todo = sum(state.get(r.stamp, "new") in ("new", "stale") for r in runs)
        print(f"sweep {spec.name}: {len(runs)} runs, {todo} to run")
        return 0
    mode, reason = _wandb_mode(args.wandb)
    slurm = None
    if args.backend == "slurm":
        from metabnn.slurm import SlurmOptions

        extra = {}
        for item in args.slurm_option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"--slurm-option {item!r} is invalid: use KEY=VALUE, e.g. "
                                  "constraint=a100")
            extra[key.lstrip("-")] = value
        slurm = SlurmOptions(
            partition=args.slurm_partition, time_min=args.slurm_time, mem_gb=args.slurm_mem,
            cpus=args.slurm_cpus, gpus=args.slurm_gpus, parallelism=args.slurm_parallelism,
            account=args.slurm_account, qos=args.slurm_qos, extra=extra,
            folder=args.slurm_folder, cluster=args.slurm_cluster,
            wait=not args.slurm_no_wait).check()
    summary = run_sweep(
        spec, backend=args.backend, workers=args.workers, ray_address=args.ray_address,
        out_dir=args.out, registry=args.registry, data_root=args.data_root, device=args.device,
        force=args.force, wandb=mode, wandb_reason=reason, allow_stale=args.allow_stale,
        log=lambda line: print(line, flush=True),  # live progress, also into a log file
        slurm=slurm,
    )
    reg = summary["registry"]
    print(f"sweep {spec.name}: {summary['runs']} runs: {summary['ran']} ran "
          f"({summary['done']} done, {summary['failed']} failed), {summary['skipped']} skipped "
          f"as done; registry: {reg['done']} done, {reg['failed']} failed, "
          f"{reg['running']} running")
    if summary.get("figure"):
        print(f"figure: {summary['figure']}  table: {summary['csv']}")
    return 1 if summary["failed"] else 0




def _what_to_do(err: BaseException) -> str:
    """Advice for the errors whose message (raised in code hashed into the fingerprint, so
    left as it is) names the file but not what to do."""
    said = str(err)
    if type(err).__name__ in {"CheckpointError", "ResumeError"} and "checkpoint" in said and \
            "move it aside" not in said and "rerun without" not in said:
        return ": move it aside to start the run over, or restore it"
    return ""


def _file_being_written(err: BaseException) -> str | None:
    """The file an atomic writer was writing when ``err`` was raised: a failed ``write()``
    (EFBIG, ENOSPC) carries no file name, but the writer's frame holds its ``path``."""
    tb, found = err.__traceback__, None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name in {"write_json_atomic", "save_checkpoint"}:
            found = frame.f_locals.get("path")
        tb = tb.tb_next
    return str(found) if found is not None else None

def main(argv: Sequence[str] | None = None) -> int:
    import signal

    from metabnn.data import DataNotFoundError
    from metabnn.registry import UnknownNameError

    if hasattr(signal, "SIGXFSZ"):  # a file-size limit: a write fails (EFBIG), not the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    from metabnn.runs import RunBusyError

    args = build_parser().parse_args(argv)
    try:
        if args.plugins:  # also for sweep workers and Ray tasks, which inherit the environment
            from metabnn.extensions import ENV, load

            os.environ[ENV] = ",".join(
                [*filter(None, os.environ.get(ENV, "").split(",")), *args.plugins])
            load()
        if args.command == "list":
            _list(args.kind)
        elif args.command == "run":
            _wandb_target(args)
            _run(args)
        elif args.command == "runs":
            _runs(args)
        elif args.command == "compare":
            from metabnn.compare import main_compare
            from metabnn.runs import default_registry_path

            print(main_compare(args.stamps, registry=Path(args.registry or default_registry_path(
                args.out)), fmt=args.format, sweep=args.sweep, strategy=args.strategy,
                stream=args.stream), end="")
        elif args.command == "sweep":
            _wandb_target(args)
            return _sweep(args)
        elif args.command == "sweep-ber":
            from metabnn.hardware import sweep_ber

            return sweep_ber.main(args)
        elif args.command == "leaderboard":
            from metabnn.leaderboard import command as leaderboard

            return leaderboard.main(args)
        elif args.command == "reproduce":
            from metabnn.reproduce import command as reproduce

            return reproduce.main(args)
    except (ConfigError, UnknownNameError, DataNotFoundError, ValueError) as err:
        print(f"metabnn: error: {err}{_what_to_do(err)}", file=sys.stderr)
        return 2
    except RunBusyError as err:  # another process runs this stamp: not an input error
        print(f"metabnn: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `metabnn run ... | head`: the reader left, not the disk
        try:  # no second error when Python flushes stdout at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        print("metabnn: output closed by the reader (broken pipe): stopped; a run's "
              "checkpoint is kept, so the same command continues it", file=sys.stderr)
        return 141
    except OSError as err:  # a write the file system refused (full disk, file size limit...)
        name = err.filename or _file_being_written(err)
        where = f"{name}: " if name else ""
        print(f"metabnn: error: {where}{err.strerror or err}: nothing was overwritten (files "
              "are written whole or not at all); free space or fix the folder and rerun",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metabnn: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
