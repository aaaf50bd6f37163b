"""The ``slurm`` sweep backend: every run a task of a SLURM job array, submitted with submitit.

The driver (the ``metabnn sweep`` process, on a login node) is the only process that touches the
run registry: SQLite locking is unreliable on the network file systems (NFS, Lustre, GPFS)
clusters share, so the registry should live on a local disk of the driver's machine
(``--registry``). Each array task trains one run with ``cpus`` torch threads and writes its own
``<out>/<stamp>/{config,results}.json`` and figures to the shared ``--out`` folder, files written
whole or not at all (:mod:`metabnn.files`); the driver gathers them into the registry.

Resumable: the driver records the job of every stamp it submitted in
``<folder>/jobs.json``. Run the same ``metabnn sweep`` again, after the driver was killed or
with ``--slurm-no-wait``, and it first gathers every results file a task has written since (with
this code's fingerprint), leaves alone the stamps whose job is still pending or running, and
submits only the rest; a task that ran out of time continues from its checkpoint
(:mod:`metabnn.resume`).

``cluster``: ``slurm`` (sbatch), or submitit's ``local`` executor, which runs each task in a
process of this machine with the same code path (the tests use it; so can a laptop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metabnn.config import ConfigError, RunConfig, from_dict
from metabnn.files import DamagedFileError, read_json
from metabnn.results import write_json_atomic
from metabnn.runs import RunRegistry

__all__ = ["SlurmOptions", "CLUSTERS", "run_slurm", "gather", "slurm_task"]

CLUSTERS = ("slurm", "local")
_ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING",
           "SUSPENDED"}


@dataclass(frozen=True)
class SlurmOptions:
    """What every array task asks of SLURM, and how the driver behaves.

    ``time_min``, ``mem_gb``, ``cpus`` (torch threads of the run, part of its code
    fingerprint), ``gpus`` per task; ``parallelism``: most tasks of the array running at once;
    ``partition``, ``account``, ``qos`` and ``extra`` (any other ``#SBATCH --key=value``) apply
    on SLURM only. ``folder``: submitit's logs and pickles (default
    ``<out>/sweeps/<name>/slurm``); ``wait``: wait for the jobs and gather them (else submit and
    return: rerun the sweep to gather).
    """

    partition: str | None = None
    time_min: int = 60
    mem_gb: float = 8.0
    cpus: int = 1
    gpus: int = 0
    parallelism: int = 64
    account: str | None = None
    qos: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    folder: str | None = None
    cluster: str = "slurm"
    wait: bool = True

    def check(self) -> SlurmOptions:
        """Self, or a ``ConfigError`` naming the bad option."""
        if self.cluster not in CLUSTERS:
            raise ConfigError(f"--slurm-cluster {self.cluster!r} is invalid: use one of "
                              f"{', '.join(CLUSTERS)}")
        for name, value, low in (("--slurm-time", self.time_min, 1), ("--slurm-cpus", self.cpus, 1),
                                 ("--slurm-gpus", self.gpus, 0),
                                 ("--slurm-parallelism", self.parallelism, 1)):
            if value < low:
                raise ConfigError(f"{name} {value} is invalid: must be >= {low}")
        if not self.mem_gb > 0:
            raise ConfigError(f"--slurm-mem {self.mem_gb} is invalid: must be > 0 (GB)")
        return self


def slurm_task(config: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
    """One run as an array task: trained with ``opts["threads"]`` threads, written to its run
    folder, not recorded (the driver records); continues from a checkpoint a timed-out attempt
    left. Raises on failure (submitit hands the traceback to the driver)."""
    import torch

    from metabnn.runner import run

    opts = dict(opts)
    torch.set_num_threads(opts.pop("threads"))
    results = run(from_dict(RunConfig, config), progress=False, record=False, resume="auto",
                  **opts)
    return {k: results[k] for k in ("path", "metrics", "wall_time_s", "stamp")}


def gather(stamps: list[str], out_dir: str | Path, expected: dict[str, str]
           ) -> dict[str, dict[str, Any]]:
    """The results files that array tasks wrote for ``stamps`` with the fingerprint
    ``expected[stamp]``: ``{stamp: results}`` with each file's ``path``. A damaged or foreign
    file is not gathered (its stamp runs again)."""
    found = {}
    for s in stamps:
        path = Path(out_dir) / s / "results.json"
        if not path.exists():
            continue
        try:
            results = read_json(path, "results file")
        except DamagedFileError:
            continue
        made_by = (results.get("fingerprint") or {}).get("id")
        if results.get("stamp") == s and made_by == expected[s]:
            found[s] = {**results, "path": str(path)}
    return found


def _job_class(cluster: str) -> Any:
    import submitit

    return {"slurm": submitit.SlurmJob, "local": submitit.LocalJob}[cluster]


def _active_jobs(folder: Path, cluster: str) -> dict[str, str]:
    """``{stamp: job id}`` of the jobs recorded in ``folder/jobs.json`` still pending or running
    (a local job whose driver has gone is not: its process went with it)."""
    record = folder / "jobs.json"
    if not record.exists():
        return {}
    try:
        jobs = read_json(record, "SLURM job record")
    except DamagedFileError:
        return {}
    job_class = _job_class(cluster)
    active = {}
    for s, job_id in jobs.items():
        try:
            state = job_class(folder, job_id).state
        except Exception:  # sacct unreachable: assume it is gone, the stamp is submitted again
            state = "UNKNOWN"
        if state.upper().split()[0] in _ACTIVE:
            active[s] = job_id
    return active


def run_slurm(todo: list[tuple[str, dict[str, Any]]], opts: dict[str, Any],
              options: SlurmOptions, db: RunRegistry, expected: dict[str, str],
              report: Callable[[str, dict[str, Any]], None], rerun: set[str],
              log: Callable[[str], Any]) -> None:
    """Gather, then submit the ``todo`` runs (``(stamp, config dict)``) as one job array; wait
    for them and record each in ``db`` as it ends (unless ``options.wait`` is false)."""
    try:
        import submitit
    except ImportError:
        raise ConfigError("--backend slurm needs submitit: pip install -e '.[slurm]'") from None
    options.check()
    folder = Path(options.folder or Path(opts["out_dir"]) / "sweeps" / opts["sweep"] / "slurm")
    folder = folder.resolve()
    if not opts["force"]:
        gathered = gather([s for s, _ in todo], opts["out_dir"], expected)
        for s, results in gathered.items():
            db.start(s, next(c for t, c in todo if t == s), sweep=opts["sweep"])
            db.finish(s, results)
            report(s, {"status": "done", "metrics": results["metrics"],
                       "wall_time_s": results.get("wall_time_s"), "gathered": True})
        todo = [(s, c) for s, c in todo if s not in gathered]
    active = _active_jobs(folder, options.cluster) if not opts["force"] else {}
    for s in [s for s, _ in todo if s in active]:
        report(s, {"status": "skipped", "busy": f"still queued or running as job {active[s]}"})
    todo = [(s, c) for s, c in todo if s not in active]
    submit = []
    for s, config in todo:  # claimed: another driver does not submit it twice
        claimed, status = db.claim(s, config, sweep=opts["sweep"],
                                   force=opts["force"] or s in rerun)
        if claimed:
            submit.append((s, config))
        else:
            report(s, {"status": "skipped", "busy": f"{status} elsewhere"})
    if not submit:
        return
    executor = submitit.AutoExecutor(folder=folder, cluster=options.cluster)
    params: dict[str, Any] = {
        "name": f"metabnn-{opts['sweep']}", "timeout_min": options.time_min,
        "mem_gb": options.mem_gb, "cpus_per_task": options.cpus,
        "slurm_array_parallelism": options.parallelism,
    }
    if options.gpus:
        params["gpus_per_node"] = options.gpus
    extra = dict(options.extra)
    extra.update({k: v for k, v in (("account", options.account), ("qos", options.qos)) if v})
    if options.partition:
        params["slurm_partition"] = options.partition
    if extra:
        params["slurm_additional_parameters"] = extra
    executor.update_parameters(**params)
    task_opts = {**{k: v for k, v in opts.items() if k != "allow_stale"}, "threads": options.cpus}
    jobs = executor.map_array(slurm_task, [c for _, c in submit], [task_opts] * len(submit))
    record = folder / "jobs.json"
    previous = read_json(record, "SLURM job record") if record.exists() else {}
    write_json_atomic(record, {**previous, **{s: j.job_id for (s, _), j in zip(submit, jobs)}})
    log(f"submitted {len(jobs)} runs as job array {jobs[0].job_id.split('_')[0]} "
        f"({options.cluster}; logs in {folder})")
    if not options.wait:
        log("not waiting (--slurm-no-wait): rerun this sweep to gather the finished runs")
        return
    pending = dict(zip((s for s, _ in submit), jobs))
    for s, job in pending.items():  # in submission order; results come back as each ends
        try:
            results = job.result()
        except Exception as err:
            lines = [line for line in str(err).splitlines() if line.strip()]
            error = lines[-1] if lines else type(err).__name__
            db.fail(s, f"{error}\n{err}")
            report(s, {"status": "failed", "error": error})
            continue
        body = read_json(results["path"], "results file")
        db.finish(s, {**body, "path": results["path"]})
        report(s, {"status": "done", "metrics": results["metrics"],
                   "wall_time_s": results.get("wall_time_s")})
