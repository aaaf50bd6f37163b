"""One run, top to bottom: config -> stream -> model -> strategy -> train -> results.json.

This is the application layer: it resolves names through the registries of ``benchmarks`` and
``baselines``, and nothing in the core imports it.
"""

from __future__ import annotations

import dataclasses
import random
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from metabnn.baselines import STRATEGIES, check_strategy, hyperparameters, strategy_record
from metabnn.benchmarks import STREAMS, build_stream, resolve
from metabnn.config import (
    ConfigError,
    HardwareConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    stamp,
    to_dict,
)
from metabnn.console import experience_line, format_matrix, run_header
from metabnn.data import resolve_data_root
from metabnn.fingerprint import code_fingerprint
from metabnn.hardware import attach, resolve_cell, wanted
from metabnn.memory import memory_footprint
from metabnn.metrics import joint_summary, stream_summary, summarize
from metabnn.models import MODELS, init_weights_
from metabnn.numerics import flush_subnormals
from metabnn.results import provenance, write_json_atomic, write_results
from metabnn.reuse import done_results, reuse
from metabnn.runs import RunBusyError, RunRegistry, default_registry_path
from metabnn.seeding import derived_seed, generator

__all__ = ["run", "resolve_device", "check_data_root", "build_model", "format_matrix",
           "validate", "canonical", "ignored", "assemble", "Assembly"]
# format_matrix is re-exported from metabnn.console


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} is invalid: CUDA is not available on this machine")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"device={device!r} is invalid: use auto, cpu, cuda or cuda:N") from None


def check_data_root(data_root: str | Path | None) -> Path:
    """The data root; one named explicitly (flag or ``$METABNN_DATA``) must be a folder."""
    import os

    root = resolve_data_root(data_root)
    named = data_root or os.environ.get("METABNN_DATA")
    if named and not root.is_dir():
        source = "--data-root" if data_root else "$METABNN_DATA"
        raise ConfigError(f"{source}={str(named)!r} is invalid: no such folder (point "
                          "--data-root or $METABNN_DATA at the datasets' folder, or leave both "
                          "unset to download into ~/.cache/metabnn/data)")
    return root


def validate(config: RunConfig) -> RunConfig:
    """Check values and that every name resolves, before any work starts.

    Returns the *resolved*, canonical config: unset stream-dependent fields (tasks, scenario,
    chunks, model, head, BatchNorm policy) take the stream's defaults, streams without
    boundaries turn optimizer resets off (:func:`metabnn.benchmarks.resolve`), and what the run
    does not use is set to its default (:func:`canonical`): one experiment, one stamp.
    Idempotent.
    """
    config.validate()
    STREAMS.entry(config.stream.name)
    STRATEGIES.entry(config.strategy)
    config = resolve(config)
    MODELS.entry(config.model.name)
    check_strategy(config)  # its --param values, scenario and model
    if wanted(config.hardware):
        resolve_cell(config.hardware)  # the cell name and its condition resolve
    return canonical(config)[0]


def ignored(config: RunConfig) -> list[str]:
    """What ``config`` sets that its run would not use (dropped by :func:`validate`)."""
    config.validate()
    config = resolve(config)
    check_strategy(config)
    return canonical(config)[1]


def canonical(config: RunConfig) -> tuple[RunConfig, list[str]]:
    """``config`` as the experiment it runs, and the fields it set that the run ignores.

    * the strategy's parameters: every declared one with the value the run uses (an explicit
      default and an omitted one are one experiment);
    * ``optim.meta``: 0 for a strategy that does not read it (it trains with m = 0), so the m
      a run shows is the m it trained with;
    * the hardware fields without a hardware backend, ``model.channels`` of a model that takes
      no images, the init width of a model with PyTorch's init, the BatchNorm fields of a model
      without BatchNorm: their defaults.
    """
    hp = hyperparameters(config)
    dropped = []
    optim, hardware, model = config.optim, config.hardware, config.model
    if "optim.meta" not in STRATEGIES.entry(config.strategy).info.get("params", {}):
        if optim.meta not in (0.0, OptimConfig().meta):  # set, and not to the default
            dropped.append(f"optim.meta={optim.meta:g}: strategy {config.strategy!r} trains "
                           "with m = 0")
        optim = dataclasses.replace(optim, meta=0.0)
    if STRATEGIES.entry(config.strategy).info.get("adam", True) is False:
        unused_optim = [f.name for f in dataclasses.fields(OptimConfig)
                        if f.name != "meta" and getattr(optim, f.name) != getattr(
                            OptimConfig(), f.name)]
        if unused_optim:
            dropped.append(f"optim.{', optim.'.join(unused_optim)}: strategy "
                           f"{config.strategy!r} has its own rule (no Adam)")
        optim = dataclasses.replace(OptimConfig(), meta=0.0)
    if not wanted(hardware) and hardware != HardwareConfig():
        changed = [f.name for f in dataclasses.fields(HardwareConfig)
                   if getattr(hardware, f.name) != getattr(HardwareConfig(), f.name)]
        dropped.append(f"hardware.{', hardware.'.join(changed)}: no hardware backend "
                       "(--hardware)")
        hardware = HardwareConfig()
    info, defaults = MODELS.entry(model.name).info, ModelConfig()
    unused = []
    if info.get("input") not in ("image", "signal"):
        unused.append("channels")
    elif model.channels is None:  # the model's own default: an explicit default is the same run
        model = dataclasses.replace(model, channels=tuple(info["channels"]))
    if info.get("init") in ("pytorch", "own"):
        unused.append("init_width")
    if not info.get("batchnorm", True):
        unused += ["bn_weight_init", "track_running_stats"]
    if not info.get("sign_zero"):
        unused.append("sign_zero")
    for name in unused:
        if getattr(model, name) != getattr(defaults, name):
            dropped.append(f"model.{name}: model {model.name!r} does not use it")
            model = dataclasses.replace(model, **{name: getattr(defaults, name)})
    params = {k: v for k, v in hp.items() if "." not in k}
    return dataclasses.replace(config, params=params, optim=optim, hardware=hardware,
                               model=model), dropped


def build_model(config: RunConfig, input_shape: tuple[int, ...], n_classes: int,
                head_sizes: tuple[int, ...] = ()) -> nn.Module:
    """The config's model for ``input_shape`` inputs and ``n_classes`` outputs, seeded init.

    Models registered with ``input="image"`` (the conv nets) take ``(C, H, W)`` and
    ``model.channels``; the MLPs take the flattened size. With ``stream.head == "multi"`` the
    network gets one output per class of every task (``head_sizes``, one per task) and is
    wrapped as one head per task (:class:`metabnn.heads.MultiHeadModel`).
    """
    if config.stream.head == "multi":
        from metabnn.heads import MultiHeadModel

        if not head_sizes:
            raise ConfigError("stream.head='multi' needs the classes of every task")
        body = build_model(dataclasses.replace(
            config, stream=dataclasses.replace(config.stream, head="shared")),
            input_shape, sum(head_sizes))
        return MultiHeadModel(body, head_sizes)
    name = config.model.name
    cls = MODELS.get(name)
    kind = MODELS.entry(name).info.get("input")
    if kind in ("image", "signal"):
        want = 3 if kind == "image" else 2
        if len(input_shape) != want:
            shape = "images (C, H, W)" if kind == "image" else "signals (C, L)"
            raise ConfigError(f"model.name={name!r} is invalid for stream "
                              f"{config.stream.name!r}: it needs {shape}, the stream gives "
                              f"{tuple(input_shape)} (use bnn or mlp)")
        channels = config.model.channels or MODELS.entry(name).info["channels"]
        model = cls(tuple(input_shape), tuple(config.model.hidden), n_classes,
                    channels=tuple(channels),
                    track_running_stats=config.model.track_running_stats)
        return init_weights_(model, config.model.init_width, generator(config.seed, "init"),
                             bn_weight=config.model.bn_weight_init)
    scheme = MODELS.entry(name).info.get("init", "uniform")
    extra = ({"sign_zero": config.model.sign_zero}
             if MODELS.entry(name).info.get("sign_zero") else {})
    model = cls(
        int(np.prod(input_shape)),
        tuple(config.model.hidden),
        n_classes,
        track_running_stats=config.model.track_running_stats,
        **extra,
    )
    return init_weights_(model, config.model.init_width, generator(config.seed, "init"),
                         bn_weight=config.model.bn_weight_init, scheme=scheme)


def run(
    config: RunConfig,
    *,
    data_root: str | Path | None = None,
    device: str = "auto",
    out_dir: str | Path = "runs",
    progress: bool = True,
    log: Callable[[str], Any] = print,
    registry: RunRegistry | str | Path | None = None,
    record: bool = True,
    force: bool = False,
    wandb: str = "disabled",
    wandb_reason: str = "",
    sweep: str | None = None,
    resume: bool | str = False,
    checkpoint_every: int = 1,
    allow_stale: bool = False,
) -> dict[str, Any]:
    """Train ``config`` end to end, recorded in the run registry, with figures and W&B.

    Writes ``<out_dir>/<stamp>/{config,results}.json`` and the two figures of
    :mod:`metabnn.figures`. The run is recorded in ``registry`` (default
    ``<out_dir>/registry.sqlite``, see :mod:`metabnn.runs`; ``record=False``: not at all) as
    running, then done, or failed with its error (re-raised). A stamp already done by code with
    the same fingerprint (:mod:`metabnn.fingerprint`) is skipped (its stored results are
    returned, with ``"skipped": True``, and shown with their own commit, fingerprint, date and
    wall time) unless ``force``. A stamp done by other code reruns; its old results are kept in
    ``<out_dir>/<stamp>/superseded/``. ``allow_stale`` reuses it instead, returned with
    ``"stale": True`` and a ``"stale_reason"``, and logged as STALE. ``wandb`` is a
    mode of :func:`metabnn.tracking.resolve_mode` (``wandb_reason`` says why, for the log line);
    ``sweep`` names the sweep the run belongs to (W&B group, registry column).

    Checkpoints (:mod:`metabnn.resume`) go to ``<out_dir>/<stamp>/checkpoint.pt`` every
    ``checkpoint_every`` epochs and at every experience end (0: never); the file is removed when
    the run is done. ``resume`` continues from it (``"auto"``: if there is one written by this
    code, else from the start); so does a rerun of a stamp the registry has as
    running (its process died) or failed, unless ``force``. A stamp running in another live
    process is refused (:class:`~metabnn.runs.RunBusyError`): two invocations never run it twice.
    """
    flush_subnormals()  # before torch starts its threads: they inherit the mode
    config = validate(config)  # the resolved config: its stamp is the run's
    run_stamp = stamp(config)
    folder = Path(out_dir) / run_stamp
    if checkpoint_every < 0:
        raise ConfigError(f"--checkpoint-every={checkpoint_every} is invalid: must be >= 0 "
                          "(0: no checkpoints)")
    resolve_device(device)  # bad input: refused before anything is written
    # the data, and a model that takes its inputs, too: loaded before anything is written
    stream = build_stream(config.stream, seed=config.seed, data_root=check_data_root(data_root))
    build_model(config, stream.input_shape, stream.n_classes, stream.head_sizes())
    mode = "auto" if resume == "auto" else "explicit" if resume else None
    db = None
    current = code_fingerprint(resolve_device(device))
    if record:
        db = registry if isinstance(registry, RunRegistry) else RunRegistry(
            registry if registry is not None else default_registry_path(out_dir))
        done = None if force else done_results(db, run_stamp)
        rerun = False
        if done is not None:
            reused = reuse(done, current, run_stamp, allow_stale=allow_stale, log=log)
            if reused is not None:
                return reused
            rerun = True  # made by other code: it reruns; its results are kept aside then
        elif db.is_done(run_stamp):
            rerun = True  # recorded as done but its results file is gone
            log(f"run {run_stamp}: the registry has it as done but its results file is "
                "missing: rerunning")
        claimed, previous = db.claim(run_stamp, to_dict(config), sweep=sweep,
                                     force=force or rerun)
        if not claimed:
            raise RunBusyError(f"run {run_stamp} is {previous} in another process "
                               f"(`metabnn runs show {run_stamp}`); not run twice")
        if previous in ("running", "failed") and not force and mode is None:
            mode = "auto"  # a rerun of an interrupted or failed stamp continues from its checkpoint
    tracker = None
    try:
        if wandb != "disabled":
            from metabnn.tracking import WandBPlugin

            tracker = WandBPlugin(None, config={**to_dict(config), "hyperparameters":
                                                hyperparameters(config)},
                                  stamp=run_stamp, mode=wandb,
                                  folder=folder, group=sweep)
        results = _train(config, data_root=data_root, device=device, out_dir=out_dir,
                         progress=progress, log=log, extra_plugins=[tracker], resume=mode,
                         stream=stream,
                         checkpoint_every=checkpoint_every,
                         heartbeat=(lambda: db.heartbeat(run_stamp)) if db else lambda: None)
        figures = _figures(results, folder, log)
        if tracker is not None:
            try:
                line = tracker.finish(results, figures)
            except Exception as err:  # W&B must never cost a finished run
                line = f"W&B: logging failed ({type(err).__name__}: {err})"
            log(line + (f" [{wandb_reason}]" if wandb_reason else ""))
    except BaseException as err:
        if db is not None:
            db.fail(run_stamp, f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
        if tracker is not None and tracker.run is not None:
            try:
                tracker.finish(None)
            except Exception as wandb_err:  # the run's own error is the one to report
                log(f"W&B: closing failed ({type(wandb_err).__name__}: {wandb_err})")
        raise
    if db is not None:
        db.finish(run_stamp, results)
    return results


def _figures(results: dict[str, Any], folder: Path, log: Callable[[str], Any]) -> list[Path]:
    """The run's figures (a plotting error is logged, never fatal: the results are saved)."""
    from metabnn.figures import write_run_figures

    try:
        return write_run_figures(results, folder)
    except Exception as err:
        log(f"figures failed: {type(err).__name__}: {err}")
        return []


@dataclass
class Assembly:
    """One run assembled as the command line assembles it: the resolved config, its stream,
    model, hardware backend (or ``None``), strategy with every plugin of the protocol, and the
    accuracy-matrix plugin that records the results. :mod:`metabnn.api` hands it to users."""

    config: RunConfig
    stream: Any
    model: nn.Module
    backend: Any
    strategy: Any
    matrix: Any
    device: torch.device
    ood: Any = None

    @property
    def whole_stream(self) -> bool:
        """Joint training takes the whole stream in one call (one row of the matrix)."""
        return STRATEGIES.entry(self.config.strategy).info.get("trains_on") == "stream"

    def experiences(self) -> list[Any]:
        """What to pass to ``strategy.train``, in order."""
        stream = list(self.stream.train_stream)
        return [stream] if self.whole_stream else stream

    def results(self, wall_time_s: float) -> dict[str, Any]:
        """The results file's content after training (provenance of this process)."""
        config, stream, matrix = self.config, self.stream, self.matrix
        summary = (joint_summary if self.whole_stream
                   else summarize if stream.boundaries else stream_summary)
        results = {
            "stamp": stamp(config),
            "config": to_dict(config),
            "seed": config.seed,
            "scenario": stream.scenario,
            "boundaries": stream.boundaries,
            "strategy": strategy_record(config, self.strategy),
            "accuracy_matrix": matrix.matrix,
            "curves": matrix.curves,
            "metrics": summary(matrix.matrix),
            "wall_time_s": wall_time_s,
            **provenance(self.device),
        }
        results["memory"] = memory_footprint(self.model)
        if self.backend is not None:
            results["hardware"] = self.backend.summary()
        ood = self.ood.summary() if self.ood is not None else None
        if ood is not None:
            results["ood"] = ood
            results["metrics"]["ood_auroc"] = ood["auroc"][-1]
        return results


def assemble(config: RunConfig, *, data_root: str | Path | None = None, device: str = "auto",
             progress: bool = False, plugins: Sequence[Any] = (), stream: Any = None
             ) -> Assembly:
    """Seed the global generators, build the stream, model, hardware backend and strategy of
    the resolved ``config`` with the plugins of its protocol (then ``plugins``)."""
    from metabnn.plugins import (
        AccuracyMatrixPlugin,
        GrowingHeadPlugin,
        IterationBudgetPlugin,
        ProgressPlugin,
        TaskBatchNormPlugin,
    )

    dev = resolve_device(device)
    # Avalanche plugins (replay buffers, ...) draw from the global generators: seed them too.
    global_seed = derived_seed(config.seed, "global")
    torch.manual_seed(global_seed)
    random.seed(global_seed)
    np.random.seed(global_seed % 2**32)
    if stream is None:  # streams draw from their own seeded generators, never the global ones
        stream = build_stream(config.stream, seed=config.seed,
                              data_root=resolve_data_root(data_root))
    model = build_model(config, stream.input_shape, stream.n_classes, stream.head_sizes())
    backend = attach(model, config.hardware, seed=config.seed) if wanted(config.hardware) else None
    # per-task BatchNorm states (the paper's task protocol); a growing head (class scenario);
    # a multi-head model picks its heads itself (metabnn.heads).
    batchnorm = TaskBatchNormPlugin() if config.stream.batchnorm == "per-task" else None
    head = GrowingHeadPlugin(stream.n_classes) if config.stream.head == "growing" else None
    matrix = AccuracyMatrixPlugin(
        stream.test_stream, batch_size=config.train.eval_batch_size, batchnorm=batchnorm,
        every=config.train.eval_every,
    )
    ood = None
    if config.stream.ood is not None:
        from metabnn.benchmarks.ood import ood_images
        from metabnn.plugins import OODPlugin

        x_out = ood_images(config.stream.ood, resolve_data_root(data_root),
                           n=config.stream.test_per_task, input_shape=stream.input_shape)
        ood = OODPlugin(stream.test_stream, x_out, dataset=config.stream.ood,
                        batch_size=config.train.eval_batch_size, batchnorm=batchnorm)
    budget = (IterationBudgetPlugin(config.train.iterations)
              if config.train.iterations is not None else None)
    chosen = [p for p in (budget, batchnorm, head, matrix, ood, ProgressPlugin(progress),
                          *plugins) if p is not None]
    if backend is not None:
        from metabnn.hardware.plugin import HardwarePlugin

        chosen.insert(0, HardwarePlugin(backend))  # arrays in step before anyone evaluates
    strategy = STRATEGIES.get(config.strategy)(model, config, device=dev, plugins=chosen)
    return Assembly(config, stream, model, backend, strategy, matrix, dev, ood)


def _train(
    config: RunConfig,
    *,
    data_root: str | Path | None,
    device: str,
    out_dir: str | Path,
    progress: bool,
    log: Callable[[str], Any],
    extra_plugins: list[Any],
    resume: str | None = None,
    checkpoint_every: int = 1,
    heartbeat: Callable[[], Any] = lambda: None,
    stream: Any = None,
) -> dict[str, Any]:
    """The training itself: the assembly, the experiences (checkpointed), results.json."""
    from metabnn.resume import Resumer

    validate(config)
    run_stamp = stamp(config)
    folder = Path(out_dir) / run_stamp
    a = assemble(config, data_root=data_root, device=device, progress=progress,
                 plugins=[p for p in extra_plugins if p is not None], stream=stream)
    write_json_atomic(folder / "config.json", {"stamp": run_stamp, "config": to_dict(config)})
    log(run_header(run_stamp, to_dict(config),
                   getattr(a.strategy, "record", {}).get("meta", config.optim.meta),  # trained
                   a.device.type, a.stream.boundaries))
    fingerprint = code_fingerprint(a.device)
    start = time.perf_counter()
    resumer = Resumer(
        a.strategy, folder / "checkpoint.pt", epochs=config.train.epochs,
        every=checkpoint_every, resume=resume, whole_stream=a.whole_stream,
        name=config.strategy, stamp=run_stamp, log=log, fingerprint=fingerprint["id"],
        extra=lambda: {"stamp": run_stamp, "fingerprint": fingerprint["id"],
                       "wall_time_s": resumer.wall_time_s + time.perf_counter() - start},
        on_save=lambda position: heartbeat(),
    )
    experiences = a.experiences()
    for experience in resumer.experiences(experiences):
        a.strategy.train(experience)
        label = ("all experiences" if a.whole_stream
                 else f"experience {experience.current_experience}")
        log(experience_line(label, a.matrix.matrix[-1]))
    wall = resumer.wall_time_s + time.perf_counter() - start
    resumed = resumer.report(len(experiences))
    if resumed is not None:
        log(resumed)
    results = a.results(wall)
    if a.backend is not None:
        log(a.backend.format_summary())
    write_results(folder / "results.json", results)  # an older file is kept in superseded/
    (folder / "checkpoint.pt").unlink(missing_ok=True)  # done: results.json has it all
    results["path"] = str(folder / "results.json")
    return results
