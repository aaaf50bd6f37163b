"""Reusing a finished run: only when the code that made it is the code running now.

The run registry (:mod:`metabnn.runs`) knows which stamps are done; the results file of a done
stamp carries the code fingerprint that made it (:mod:`metabnn.fingerprint`). :func:`reuse`
decides: same fingerprint, reuse (shown with the result's own provenance, never the caller's);
another fingerprint, rerun — the old file is kept in ``superseded/`` when the new one is written
(:func:`metabnn.results.write_results`), never lost — or, when the caller allows stale
results, reuse it marked ``stale``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from metabnn.files import DamagedFileError, read_json
from metabnn.fingerprint import fingerprint_diff
from metabnn.runs import RunRegistry

__all__ = ["done_results", "provenance_line", "reuse"]


def done_results(db: RunRegistry, run_stamp: str) -> dict[str, Any] | None:
    """The results of ``run_stamp`` if the registry has it done and its file exists (None
    otherwise: it reruns). A file that exists but is damaged, or is another run's, is refused
    (:class:`~metabnn.files.DamagedFileError`): results are never overwritten unseen."""
    if not db.is_done(run_stamp):
        return None
    path = Path(db.get(run_stamp)["results_path"] or "")
    if not path.name or not (path.exists() or path.is_symlink()):
        return None
    done = read_json(path, "results file")
    if not isinstance(done, dict) or done.get("stamp") != run_stamp:
        other = done.get("stamp") if isinstance(done, dict) else None
        raise DamagedFileError(f"results file {path} is not run {run_stamp}'s (it says "
                               f"{other!r}): move it aside to rerun the run, or restore it")
    return {**done, "path": str(path)}


def provenance_line(results: dict[str, Any]) -> str:
    """A result's own provenance in one line: commit, fingerprint, date, wall time."""
    fp = results.get("fingerprint") or {}
    wall = results.get("wall_time_s")
    return (f"commit {str(results.get('git_commit'))[:12]}, fingerprint {fp.get('id', 'none')}, "
            f"{str(results.get('date'))[:19]}, wall {'?' if wall is None else f'{wall:.0f}s'}")


def reuse(done: dict[str, Any], current: dict[str, Any], run_stamp: str, *,
          allow_stale: bool, log: Callable[[str], Any]) -> dict[str, Any] | None:
    """``done`` returned as a skipped run if its code is current (or stale is allowed)."""
    old = done.get("fingerprint")
    if isinstance(old, dict) and old.get("id") == current["id"]:
        log(f"run {run_stamp}: already done by this code, skipped (--force reruns it): "
            f"{done['path']} ({provenance_line(done)})")
        return {**done, "skipped": True}
    why = fingerprint_diff(old, current)
    if allow_stale:
        log(f"run {run_stamp}: STALE result reused (--allow-stale): made by other code ({why}): "
            f"{done['path']} ({provenance_line(done)})")
        return {**done, "skipped": True, "stale": True, "stale_reason": why}
    log(f"run {run_stamp}: done by other code ({why}): rerunning; the old results will be kept "
        f"in {Path(done['path']).parent / 'superseded'}/")
    return None
