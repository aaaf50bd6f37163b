"""Reusing a finished run: only when the code that made it is the code running now.

The run registry (:mod:`metabnn.runs`) knows which stamps are done; the results file of a done
stamp carries the code fingerprint that made it (:mod:`metabnn.fingerprint`). :func:`reuse`
decides: same fingerprint, reuse (shown with the result's own provenance, never the caller's);
another fingerprint, rerun, with the old file moved to ``superseded/`` by :func:`supersede`
(never lost) — or, when the caller allows stale results, reuse it marked ``stale``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metabnn.fingerprint import fingerprint_diff
from metabnn.runs import RunRegistry

__all__ = ["done_results", "provenance_line", "reuse", "supersede"]


def done_results(db: RunRegistry, run_stamp: str) -> dict[str, Any] | None:
    """The results of ``run_stamp`` if the registry has it done and its file is readable."""
    if not db.is_done(run_stamp):
        return None
    path = Path(db.get(run_stamp)["results_path"] or "")
    try:
        done = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return {**done, "path": str(path)} if isinstance(done, dict) else None


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
    log(f"run {run_stamp}: done by other code ({why}): rerunning; the old results are kept in "
        f"{Path(done['path']).parent / 'superseded'}/")
    return None


def supersede(path: Path, done: dict[str, Any]) -> None:
    """Move a results file made by other code to ``superseded/`` beside it (never lost)."""
    fp = (done.get("fingerprint") or {}).get("id") or "unfingerprinted"
    target = path.parent / "superseded" / f"results-{fp}-{str(done.get('date'))[:19]}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target.with_name(target.name.replace(":", "")))
