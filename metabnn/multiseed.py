"""``metabnn run --seeds 0 1 2 3 [--batched-seeds]``: one config, several seeds.

Without ``batched`` every seed is a separate :func:`metabnn.runner.run`. With it, the K seeds
train as one :class:`~metabnn.batched.BatchedBinaryMLP` (:mod:`metabnn.batched_train`), and each
seed is still a run of its own: its own resolved config and stamp, its own
``<out>/<stamp>/{config,results}.json`` and figures, its own row in the run registry. Each seed's
stream, initial weights and data order come from the same factories and seeds as its separate
run (``build_stream(seed)``, ``build_model`` with ``generator(seed, "init")``, the strategy's
order generator), so its accuracy matrix equals the separate run's up to float rounding, and
bitwise where both run the same kernels on the same number of CPU threads:

* ``kernels="threads"`` (the default on CPU): the seeds train side by side, one per CPU thread,
  each on ``threads_per_seed`` intra-op threads (1 unless there are more threads than seeds);
  bitwise equal to separate runs made on that many threads (``OMP_NUM_THREADS=1``). On other
  thread counts a separate run's BatchNorm sums its batch in another order, and a binary net
  amplifies the last-bit differences into another trajectory of the same statistics, as between
  any two thread counts (a couple of accuracy points on one seed, the seed-to-seed spread);
* ``kernels="per-seed"``: the seeds one after the other with their separate runs' kernels on
  the same threads: bitwise equal to separate runs on the same machine, and the slowest;
* ``kernels="batched"`` (the default on an accelerator): one ``bmm`` per layer for all seeds.

Scope: the ``meta`` strategy (MetaplasticStrategy semantics) on the binary MLP, task or domain
scenario, streams with boundaries, no hardware backend; anything else is refused in one line.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from metabnn.baselines import STRATEGIES, strategy_record
from metabnn.baselines.common import strategy_kwargs
from metabnn.batched import BatchedBinaryMLP
from metabnn.batched_train import BatchedExperience, BatchedTrainer
from metabnn.benchmarks import build_stream
from metabnn.config import ConfigError, RunConfig, stamp, to_dict
from metabnn.data import dataset_tensors, resolve_data_root
from metabnn.fingerprint import code_fingerprint
from metabnn.hardware import wanted
from metabnn.metrics import summarize
from metabnn.numerics import flush_subnormals
from metabnn.results import provenance, write_json_atomic, write_results
from metabnn.reuse import done_results, reuse
from metabnn.runner import build_model, resolve_device, run, validate
from metabnn.runs import RunRegistry, default_registry_path

__all__ = ["BATCHED_STRATEGIES", "KERNELS", "check_batched", "run_seeds", "run_batched",
           "format_seeds", "batched_fingerprint"]

#: Strategies ``--batched-seeds`` can train (MetaplasticStrategy semantics, no plugins).
BATCHED_STRATEGIES = ("meta",)
#: How the batched seeds run (module docstring).
KERNELS = ("auto", "threads", "per-seed", "batched")


def check_batched(config: RunConfig) -> None:
    """Refuse, in one line, a resolved config the batched trainer does not cover."""
    why = None
    if config.strategy not in BATCHED_STRATEGIES:
        why = f"strategy={config.strategy!r}; it trains {', '.join(BATCHED_STRATEGIES)} only"
    elif config.model.name != "bnn":
        why = f"model.name={config.model.name!r}; it trains the binary MLP (bnn) only"
    elif config.stream.scenario not in ("task", "domain"):
        why = f"stream.scenario={config.stream.scenario!r}; it takes task or domain"
    elif config.stream.head != "shared":
        why = f"stream.head={config.stream.head!r}; it trains one shared head"
    elif config.train.iterations is not None:
        why = "train.iterations; it trains epochs"
    elif config.stream.chunks is not None:
        why = f"stream {config.stream.name!r} has no task boundaries"
    elif wanted(config.hardware):
        why = f"hardware.name={config.hardware.name!r}; it trains the software BNN only"
    elif config.model.sign_zero != "plus-one":
        why = f"model.sign_zero={config.model.sign_zero!r}; it binarizes with sign(0) = +1"
    if why is not None:
        raise ConfigError(f"--batched-seeds cannot run {why} (drop --batched-seeds to run the "
                          "seeds one after another)")


def run_seeds(config: RunConfig, seeds: Sequence[int], *, batched: bool = False,
              **kwargs: Any) -> list[dict[str, Any]]:
    """``config`` once per seed: separate :func:`~metabnn.runner.run` calls, or batched."""
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ConfigError(f"--seeds {' '.join(map(str, seeds))} is invalid: give distinct seeds")
    if batched:
        return run_batched(config, seeds, **kwargs)
    return [run(dataclasses.replace(config, seed=s), **kwargs) for s in seeds]


def run_batched(
    config: RunConfig, seeds: Sequence[int], *, data_root: str | Path | None = None,
    device: str = "auto", out_dir: str | Path = "runs", progress: bool = False,
    log: Callable[[str], Any] = print, registry: RunRegistry | str | Path | None = None,
    record: bool = True, force: bool = False, wandb: str = "disabled", wandb_reason: str = "",
    sweep: str | None = None, kernels: str = "auto", resume: bool = False,
    checkpoint_every: int = 1, allow_stale: bool = False,
) -> list[dict[str, Any]]:
    """The seeds of ``config`` as one batched model; one results dict per seed, in order.

    Registry, skipping and W&B as :func:`metabnn.runner.run` (stamps already done are skipped;
    W&B gets each seed's end-of-run tables; a stamp done by other code reruns, or with
    ``allow_stale`` is reused and marked stale). ``progress`` is accepted for symmetry and unused.
    ``kernels``: ``threads``, ``per-seed`` or ``batched`` (see the module docstring), or
    ``auto`` (threads on CPU, batched on an accelerator). Batched runs write no checkpoints
    (``checkpoint_every`` is ignored) and cannot ``resume``.
    """
    flush_subnormals()  # before torch starts its threads: they inherit the mode
    if resume:
        raise ConfigError("--resume cannot continue --batched-seeds runs (they write no "
                          "checkpoints); rerun them, or drop --batched-seeds")
    if kernels not in KERNELS:
        raise ConfigError(f"kernels={kernels!r} is invalid: {', '.join(KERNELS)}")
    if kernels == "threads" and resolve_device(device).type != "cpu":
        raise ConfigError(f"kernels='threads' runs on CPU only, not on {device}")
    configs = [validate(dataclasses.replace(config, seed=s)) for s in seeds]
    check_batched(configs[0])
    dev = resolve_device(device)
    if kernels == "auto":
        kernels = "threads" if dev.type == "cpu" else "batched"
    db = None
    if record:
        db = registry if isinstance(registry, RunRegistry) else RunRegistry(
            registry if registry is not None else default_registry_path(out_dir))
    done: dict[int, dict[str, Any]] = {}
    current = batched_fingerprint(dev, kernels, len(configs))
    for i, c in enumerate(configs):
        previous = None if db is None or force else done_results(db, stamp(c))
        if previous is not None:
            reused = reuse(previous, current, stamp(c), allow_stale=allow_stale, log=log)
            if reused is not None:
                done[i] = reused
    todo = [c for i, c in enumerate(configs) if i not in done]
    if todo:
        for c in todo if db is not None else ():
            db.start(stamp(c), to_dict(c), sweep=sweep)
        try:
            trained = iter(_train(todo, data_root=data_root, device=device, out_dir=out_dir,
                                  log=log, kernels=kernels))
        except BaseException as err:
            for c in todo if db is not None else ():
                db.fail(stamp(c), f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
            raise
        for i in range(len(configs)):
            if i not in done:
                done[i] = next(trained)
                _finish(done[i], Path(out_dir) / done[i]["stamp"], log, wandb, wandb_reason,
                        sweep)
                if db is not None:
                    db.finish(done[i]["stamp"], done[i])
    return [done[i] for i in range(len(configs))]


def batched_fingerprint(device: torch.device, kernels: str, k: int,
                        threads: int | None = None) -> dict[str, Any]:
    """The code fingerprint of ``k`` seeds batched with ``kernels`` on ``device`` by a process
    with ``threads`` torch threads (default: this one's): side-by-side and per-seed kernels
    compute as separate runs on their threads (:class:`~metabnn.batched_train.BatchedTrainer`'s
    split), one bmm for all seeds does not."""
    if kernels == "auto":
        kernels = "threads" if device.type == "cpu" else "batched"
    threads = threads or torch.get_num_threads()
    if kernels == "threads" and device.type == "cpu":
        threads = max(1, threads // min(k, threads))
    return code_fingerprint(device, threads=threads,
                            kernels="batched" if kernels == "batched" else "separate")


def _finish(results: dict[str, Any], folder: Path, log: Callable[[str], Any], wandb: str,
            reason: str, sweep: str | None) -> None:
    """Figures and W&B for one finished seed; neither may cost the saved results."""
    from metabnn.figures import write_run_figures

    try:
        figures = write_run_figures(results, folder)
    except Exception as err:
        log(f"figures failed: {type(err).__name__}: {err}")
        figures = []
    if wandb == "disabled":
        return
    try:
        from metabnn.tracking import WandBPlugin

        config = {**results["config"],
                  "hyperparameters": results["strategy"].get("hyperparameters", {})}
        tracker = WandBPlugin(None, config=config, stamp=results["stamp"], mode=wandb,
                              folder=folder, group=sweep)
        line = tracker.finish(results, figures)
    except Exception as err:
        line = f"W&B: logging failed ({type(err).__name__}: {err})"
    log(line + (f" [{reason}]" if reason else ""))


def _stacked(streams: list[Any], device: torch.device,
             task_label_of: Callable[[Any], int]) -> list[BatchedExperience]:
    """Experience i of every seed's stream, stacked on ``device``."""
    exps = [list(s) for s in streams]
    return [BatchedExperience.stack([dataset_tensors(e[i].dataset)[:2] for e in exps],
                                    task_label_of(exps[0][i]), device)
            for i in range(len(exps[0]))]


def _train(configs: list[RunConfig], *, data_root: str | Path | None, device: str,
           out_dir: str | Path, log: Callable[[str], Any], kernels: str) -> list[dict[str, Any]]:
    """Build every seed's stream and model, train them batched, write each results.json."""
    from metabnn.plugins import task_label_of

    dev = resolve_device(device)
    root = resolve_data_root(data_root)
    streams = [build_stream(c.stream, seed=c.seed, data_root=root) for c in configs]
    models = [build_model(c, s.input_shape, s.n_classes) for c, s in zip(configs, streams)]
    # The separate run's strategy: its record for results.json, its arguments for the trainer.
    strategies = [STRATEGIES.get(c.strategy)(m, c, device=dev, plugins=[])
                  for c, m in zip(configs, models)]
    kw = strategy_kwargs(models[0], configs[0], device=dev, plugins=[])
    generators = [torch.Generator().manual_seed(
        strategy_kwargs(m, c, device=dev, plugins=[])["seed"]) for c, m in zip(configs, models)]
    if kernels == "auto":
        kernels = "threads" if dev.type == "cpu" else "batched"
    per_seed = kernels != "batched"
    model = BatchedBinaryMLP.stack([m.to(dev) for m in models], per_seed=per_seed)

    train_stream = _stacked([s.train_stream for s in streams], dev, task_label_of)
    test_stream = _stacked([s.test_stream for s in streams], dev, task_label_of)
    scenario, boundaries = streams[0].scenario, streams[0].boundaries
    stamps = [stamp(c) for c in configs]
    del streams  # the stacked tensors are the only copy of the data kept
    trainer = BatchedTrainer(
        model, test_stream, generators=generators, meta=kw["meta"], lr=kw["lr"],
        betas=kw["betas"], eps=kw["eps"], weight_decay=kw["weight_decay"],
        eps_placement=kw["eps_placement"],
        reset_per_experience=kw["reset_optimizer"], epochs=kw["train_epochs"],
        batch_size=kw["train_mb_size"], eval_batch_size=kw["eval_mb_size"],
        per_task_bn=configs[0].stream.batchnorm == "per-task",
        seed_threads=None if kernels == "threads" else 1,
    )
    seed_threads = trainer.seed_threads
    c0 = configs[0]
    log(f"runs {' '.join(stamps)}: {c0.strategy} on {c0.stream.name} "
        f"({c0.stream.scenario}-incremental), {c0.model.name} {list(c0.model.hidden)}, "
        f"m={c0.optim.meta}, seeds {[c.seed for c in configs]} batched "
        f"({kernels} kernels" + (f", {seed_threads} side by side on {trainer.threads_per_seed} "
                                 "thread(s) each" if seed_threads > 1 else "") + f"), {dev}")
    for c, s in zip(configs, stamps):
        write_json_atomic(Path(out_dir) / s / "config.json", {"stamp": s, "config": to_dict(c)})
    start = time.perf_counter()
    for i, experience in enumerate(train_stream):
        trainer.train(experience)
        log(f"after experience {i}: " + " | ".join(
            " ".join(f"{100 * a:.2f}" for a in m[-1]) for m in trainer.matrices))
    wall = time.perf_counter() - start
    out = []
    for k, (c, s) in enumerate(zip(configs, stamps)):
        results = {
            "stamp": s,
            "config": to_dict(c),
            "seed": c.seed,
            "scenario": scenario,
            "boundaries": boundaries,
            "strategy": strategy_record(c, strategies[k]),
            "accuracy_matrix": trainer.matrices[k],
            "curves": trainer.curves[k],
            "metrics": summarize(trainer.matrices[k]),
            "wall_time_s": wall,
            "batched": {"seeds": [x.seed for x in configs], "stamps": stamps,
                        "kernels": kernels, "seed_threads": seed_threads,
                        "threads_per_seed": trainer.threads_per_seed,
                        "note": "wall_time_s is the batch's, shared by its seeds"},
            **provenance(dev, threads=trainer.threads_per_seed,
                         kernels="batched" if kernels == "batched" else "separate"),
        }
        path = write_results(Path(out_dir) / s / "results.json", results)
        results["path"] = str(path)
        out.append(results)
    return out


def format_seeds(results: Sequence[dict[str, Any]]) -> str:
    """One line per seed (average accuracy, BWT, forgetting, results path) and their mean."""
    lines = []
    for r in results:
        m = r["metrics"]
        lines.append(f"seed {r['seed']:>3}  {r['stamp']}  average accuracy "
                     f"{100 * m['average_accuracy']:.2f}%  BWT "
                     f"{100 * (m.get('backward_transfer') or 0.0):+.2f}  forgetting "
                     f"{100 * (m.get('forgetting') or 0.0):.2f}  {r.get('path', '')}")
    accs = [r["metrics"]["average_accuracy"] for r in results]
    mean = sum(accs) / len(accs)
    sd = (sum((a - mean) ** 2 for a in accs) / max(len(accs) - 1, 1)) ** 0.5
    lines.append(f"{len(accs)} seeds: average accuracy {100 * mean:.2f}% +- {100 * sd:.2f} (sd)")
    return "\n".join(lines)
