"""Weights & Biases tracking: our own Avalanche plugin, and a mode that never blocks a run.

Avalanche 0.6's ``WandBLogger`` fails on current ``wandb`` (it calls APIs removed from the SDK
and logs Avalanche metric objects that the new SDK rejects), so :class:`WandBPlugin` talks to
``wandb`` directly. What a run logs:

* the run config and stamp (``wandb.config``; the run is named by its stamp, grouped by sweep);
* after every epoch, with ``epoch`` (1-based, over the whole stream) as the step metric of
  ``define_metric``: ``accuracy/task_j`` for every task ``j`` (task-indexed forgetting curves),
  ``accuracy/mean_seen`` (mean over the tasks trained so far), ``train/loss`` (mean minibatch
  loss of the epoch) and ``experience``;
* at the end: a ``wandb.Table`` ``forgetting_curves`` of (trained task, epoch, global epoch,
  evaluated task, accuracy) with a line plot drawn from it, the accuracy matrix as a table and as
  a heatmap image, the seaborn figures as images, the metrics (and any hardware energy ledger)
  in the summary.

:func:`resolve_mode` picks ``offline`` whenever W&B cannot be reached (no API key, or
api.wandb.ai unreachable within two seconds), so a run never fails or waits because of W&B; an
offline run lives in ``<run folder>/wandb/offline-run-*`` and uploads later with ``wandb sync``.
"""

from __future__ import annotations

import functools
import netrc
import os
import socket
import threading
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from avalanche.core import SupervisedPlugin

__all__ = ["MODES", "resolve_mode", "WandBPlugin"]

MODES = ("online", "offline", "disabled")


def _host() -> str:
    return urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or ""


def _has_api_key(host: str) -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _reachable(host: str, timeout_s: float = 2.0) -> bool:
    """A TCP connection to ``host:443`` within ``timeout_s`` (DNS included, via a thread)."""
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout_s).close()
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s + 0.5)
    return bool(ok)


def resolve_mode(requested: str | None = None) -> tuple[str, str]:
    """``(mode, reason)``: the W&B mode a run will use, and why, in a few words.

    ``requested`` is ``online``, ``offline``, ``disabled`` or ``None`` (then ``$WANDB_MODE`` if
    set and not empty, else online when possible). ``online`` degrades to ``offline`` without
    an API key or without network.
    """
    requested = requested or os.environ.get("WANDB_MODE", "").strip() or "online"
    if requested == "dryrun":
        requested = "offline"
    if requested not in MODES:
        raise ValueError(f"--wandb {requested!r} is invalid: use one of {', '.join(MODES)}")
    if requested != "online":
        return requested, f"{requested} as requested"
    host = _host()
    if not _has_api_key(host):
        return "offline", "no W&B API key (WANDB_API_KEY or `wandb login`)"
    if not _reachable(host):
        return "offline", f"no network ({host} unreachable)"
    return "online", "online"


def _never_fails(hook: Any) -> Any:
    """A W&B hook that cannot fail the run: the first error turns logging off, with a warning
    (W&B unreachable or crashing must never cost a run)."""

    @functools.wraps(hook)
    def safe(self: WandBPlugin, *args: Any, **kwargs: Any) -> None:
        if self.broken is not None:
            return
        try:
            hook(self, *args, **kwargs)
        except Exception as err:
            self.broken = f"{type(err).__name__}: {err}"
            warnings.warn(f"W&B logging turned off for this run: {self.broken}",
                          RuntimeWarning, stacklevel=2)

    return safe


class WandBPlugin(SupervisedPlugin):
    """Logs a run to W&B (see the module docstring for what).

    :param matrix: the run's :class:`~metabnn.plugins.AccuracyMatrixPlugin` (``None``: found
        among the strategy's plugins); it must come before this plugin in the strategy's plugin
        list (its ``after_training_epoch`` writes the row this one logs).
    :param mode: ``online``, ``offline`` or ``disabled`` (see :func:`resolve_mode`).
    :param folder: the run folder; W&B writes into ``folder/wandb``.
    """

    def __init__(
        self,
        matrix: Any,
        *,
        config: dict[str, Any],
        stamp: str,
        mode: str,
        folder: str | os.PathLike[str],
        group: str | None = None,
        project: str | None = None,
        entity: str | None = None,
    ) -> None:
        super().__init__()
        self.matrix = matrix
        self.config, self.stamp, self.mode = config, stamp, mode
        self.folder, self.group = Path(folder), group
        self.project = project or os.environ.get("WANDB_PROJECT") or "metabnn"
        self.entity = entity or os.environ.get("WANDB_ENTITY") or None  # None: the key's default
        self.run: Any = None
        self.broken: str | None = None  # why logging was turned off, if it was
        self._loss_sum, self._loss_n = 0.0, 0  # a tensor after the first step

    def start(self) -> None:
        """Open the W&B run (once; hooks call it, so it may also be called early)."""
        if self.run is not None:
            return
        import wandb

        if not os.environ.get("WANDB_MODE", "x").strip():
            del os.environ["WANDB_MODE"]  # set but empty counts as unset (the SDK rejects it)
        os.environ.setdefault("WANDB_SILENT", "true")
        (self.folder / "wandb").mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=self.project, entity=self.entity, name=self.stamp, group=self.group,
            dir=self.folder,
            mode=self.mode, job_type="train",
            config={**self.config, "stamp": self.stamp},
            tags=[str(self.config.get("strategy")), str(self.config["stream"]["name"])],
            settings=wandb.Settings(silent=True, console="off", init_timeout=30,
                                    x_disable_stats=True, x_disable_machine_info=True),
        )
        self.run.define_metric("epoch")
        for pattern in ("accuracy/*", "train/*", "experience"):
            self.run.define_metric(pattern, step_metric="epoch")

    @property
    def offline_dir(self) -> Path | None:
        """The offline run folder (``wandb sync`` it), ``None`` unless offline."""
        if self.run is None or self.mode != "offline":
            return None
        return Path(self.run.dir).parent

    @_never_fails
    def before_training(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        if self.matrix is None:  # the strategy's accuracy-matrix plugin (the one with curves)
            self.matrix = next(p for p in strategy.plugins if hasattr(p, "curves"))
        self.start()

    @_never_fails
    def after_training_iteration(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self._loss_sum = self._loss_sum + strategy.loss.detach()  # no device sync per step
        self._loss_n += 1

    @_never_fails
    def after_training_epoch(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        row = self.matrix.curves[-1]  # written by the matrix plugin's hook, which ran first
        exp = row["experience"]
        seen = row["accuracy"][: exp + 1]  # tasks trained so far (one test set: that one)
        log = {
            "epoch": len(self.matrix.curves),
            "experience": exp,
            "train/loss": float(self._loss_sum) / max(self._loss_n, 1),
            "accuracy/mean_seen": sum(seen) / len(seen),
        }
        log.update({f"accuracy/task_{j}": a for j, a in enumerate(row["accuracy"])})
        self.run.log(log)
        self._loss_sum, self._loss_n = 0.0, 0

    def finish(self, results: dict[str, Any] | None = None,
               figures: list[Path] | tuple[Path, ...] = ()) -> str:
        """Log the end-of-run tables, figures and summary; close the run; say where it went.

        ``results`` is ``None`` for a failed run (closed with exit code 1). When W&B failed to
        start or to log, the line names the error.
        """
        if self.run is None:
            return ("W&B: nothing logged" + (f": W&B failed to start ({self.broken})"
                                             if self.broken else ""))
        import wandb

        if self.broken is not None:  # logging stopped mid-run: close what was logged
            where = self.offline_dir
            try:
                self.run.finish(exit_code=0 if results is not None else 1)
            except Exception:  # the run is already broken; its error is the one to report
                pass
            return (f"W&B: logging failed and was turned off ({self.broken}); what was logged "
                    f"before is in {where or 'the W&B run'}")

        if results is not None:
            self.run.log(_tables(results) | {
                f"figures/{p.stem}": wandb.Image(str(p)) for p in figures if p.suffix == ".png"
            })
            summary = {k: v for k, v in results.get("metrics", {}).items()
                       if isinstance(v, (int, float))}
            summary.update({"stamp": self.stamp, "wall_time_s": results.get("wall_time_s")})
            summary.update(_energy(results))
            self.run.summary.update(summary)
        where = self.offline_dir
        url = self.run.url if self.mode == "online" else None
        self.run.finish(exit_code=0 if results is not None else 1)
        if self.mode == "disabled":
            return "W&B: disabled"
        if where is not None:
            return f"W&B: logged offline to {where} (upload later: wandb sync {where})"
        return f"W&B: logged online to {url}"


def _tables(results: dict[str, Any]) -> dict[str, Any]:
    import wandb

    rows = []
    for step, row in enumerate(results["curves"], start=1):
        for task, acc in enumerate(row["accuracy"]):
            rows.append([row["experience"], row["epoch"] + 1, step, task, acc])
    curves = wandb.Table(columns=["trained_task", "epoch", "global_epoch", "evaluated_task",
                                  "accuracy"], data=rows)
    R = results["accuracy_matrix"]
    matrix = wandb.Table(columns=["after_experience"] + [f"task_{j}" for j in range(len(R[0]))],
                         data=[[i, *r] for i, r in enumerate(R)])
    return {
        "forgetting_curves": curves,
        "forgetting_curves_plot": wandb.plot.line(
            curves, "global_epoch", "accuracy", stroke="evaluated_task",
            title="accuracy of each task vs epoch over the stream"),
        "accuracy_matrix": matrix,
    }


def _energy(results: dict[str, Any]) -> dict[str, float]:
    """Numeric leaves of a hardware energy ledger in ``results``, as ``energy/...`` keys."""
    out: dict[str, float] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            out[prefix] = float(node)

    for key in ("ledger", "energy"):
        walk(f"energy/{key}" if key != "energy" else "energy", results.get(key))
    hardware = results.get("hardware")
    if isinstance(hardware, dict):
        walk("hardware", hardware)
    return out
