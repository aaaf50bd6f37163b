"""Results files: atomic JSON writes and the provenance every result carries.

A results file is written to a temporary file in the same folder, flushed to disk, then renamed
over the target (``os.replace`` is atomic on POSIX), so a crash leaves the old file or the new
one, never half of one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from metabnn.fingerprint import PACKAGES, code_fingerprint, source_files

__all__ = ["write_json_atomic", "write_results", "keep_aside", "provenance", "git_commit",
           "device_name"]



def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def keep_aside(path: Path) -> Path | None:
    """A second name for the results file ``path`` in ``superseded/`` beside it (a hard link,
    or a copy where links fail), named by the code fingerprint and date it records; ``None`` if
    there is no file. Used before a file is replaced, so no result is ever lost."""
    import shutil

    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    old = old if isinstance(old, dict) else {}
    fp = (old.get("fingerprint") or {}).get("id") or "unfingerprinted"
    date = str(old.get("date") or "undated")[:19].replace(":", "")
    folder = path.parent / "superseded"
    folder.mkdir(exist_ok=True)
    target, k = folder / f"results-{fp}-{date}.json", 1
    while target.exists():  # two files of one fingerprint and date: keep both
        k += 1
        target = folder / f"results-{fp}-{date}-{k}.json"
    try:
        os.link(path, target)
    except OSError:
        shutil.copy2(path, target)
    return target


def write_results(path: str | os.PathLike[str], results: Any) -> Path:
    """Write a run's results file atomically; a file already there (a forced, stale or failed
    run's rerun) is first kept in ``superseded/``. If the write fails (a full disk), the old
    file is left as it was and the extra name is removed."""
    path = Path(path)
    kept = keep_aside(path)
    try:
        return write_json_atomic(path, results)
    except BaseException:
        if kept is not None:
            kept.unlink(missing_ok=True)
        raise


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The commit of the source tree metabnn runs from, with ``-dirty`` when a source the code
    fingerprint hashes (:func:`metabnn.fingerprint.source_files`) differs from that commit
    (changed, or new and untracked): then the commit alone cannot regenerate the result."""
    here = Path(__file__).resolve().parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=here,
                             capture_output=True, text=True, timeout=10)
        if top.returncode != 0:
            return None
        root, sha = top.stdout.split()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--",
             *(p.rsplit(".", 1)[-1] for p in PACKAGES)],
            cwd=root, capture_output=True, text=True, timeout=10,
        )
        changed = {line[3:].split(" -> ")[-1].strip('"') for line in status.stdout.splitlines()}
        root_path = Path(root).resolve()
        hashed = {str(path.resolve().relative_to(root_path)) for _, path in source_files()
                  if path.resolve().is_relative_to(root_path)}
        return sha + ("-dirty" if changed & hashed else "")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def provenance(device: torch.device | str, *, threads: int | None = None,
               kernels: str = "separate") -> dict[str, Any]:
    """Versions, commit, device, date and the code fingerprint
    (:func:`metabnn.fingerprint.code_fingerprint`) of a result made now on ``device``."""
    return {
        "fingerprint": code_fingerprint(device, threads=threads, kernels=kernels),
        "versions": {
            "metabnn": _version("metabnn"),
            "torch": torch.__version__,
            "avalanche-lib": _version("avalanche-lib"),
            "numpy": _version("numpy"),
            "python": platform.python_version(),
        },
        "git_commit": git_commit(),
        "device": device_name(device),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # UTC, results time
    }
