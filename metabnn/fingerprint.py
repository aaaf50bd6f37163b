"""Code fingerprint: which code, libraries and execution made a result.

A run's config (its *stamp*, :func:`metabnn.config.stamp`) says which experiment it is; the
fingerprint says what executed it. Two runs of one stamp are the same result only when their
fingerprints are equal, so a finished run is reused only then (:func:`metabnn.runner.run`).

The fingerprint is a small mapping:

* ``sources`` — SHA-256 over the relative path and bytes of every ``.py`` file of the packages
  whose code can change a number in a results file (:data:`PACKAGES`), except the modules listed
  in :data:`PRESENTATION`, which only show, store, dispatch or judge results (the command line,
  the run registry, sweeps' dispatch, reuse decisions, statistics over seeds, figures, W&B,
  leaderboards, reproduction reports, speed and fidelity scripts);
* ``torch``, ``avalanche-lib``, ``numpy`` — the versions of the libraries that compute or draw;
* ``device`` — ``cpu`` or ``cuda``; ``threads`` — on a CPU, torch's intra-op thread count
  (PyTorch's CPU BatchNorm sums a batch in a thread-count-dependent order and a binary network
  amplifies the last-bit difference into another trajectory), ``None`` on a GPU;
* ``kernels`` — ``batched`` when batched seeds ran as one ``bmm`` per layer (not bitwise equal
  to separate runs), else ``separate``;
* ``plugins`` — 16 hex digits of SHA-256 over the source files of the user's extension modules
  loaded in this process (:mod:`metabnn.extensions`), ``None`` when there are none;
* ``id`` — 12 hex digits of SHA-256 over the canonical JSON of all of the above.

:func:`source_hash` is computed once per process; a changed file is seen by the next process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

__all__ = ["PACKAGES", "PRESENTATION", "source_files", "source_hash", "code_fingerprint",
           "fingerprint_diff", "fingerprint_id"]

PACKAGES = ("metabnn", "metabnn.benchmarks", "metabnn.baselines", "metabnn.hardware")
"""Packages whose sources are hashed (the last three live in the repository's top-level
benchmarks/, baselines/ and hardware/ folders; relative paths name those folders)."""

PRESENTATION = (
    "metabnn/cli.py", "metabnn/console.py", "metabnn/runs.py", "metabnn/sweep.py",
    "metabnn/reuse.py", "metabnn/stats.py", "metabnn/threads.py", "metabnn/figures.py",
    "metabnn/compare.py",
    "metabnn/tracking.py", "metabnn/leaderboard/", "metabnn/reproduce/", "benchmarks/perf/",
    "benchmarks/fidelity/", "hardware/perf.py",
)
"""Paths (files, or folders ending in ``/``) left out of the hash: they show, store, dispatch or
judge results, or measure other code (speed, fidelity), and never compute a number of a results
file (a run's thread count, which sweeps set, is part of the fingerprint itself)."""


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _excluded(relative: str) -> bool:
    return any(relative == p or (p.endswith("/") and relative.startswith(p))
               for p in PRESENTATION)


def source_files() -> list[tuple[str, Path]]:
    """``(relative path, file)`` of every hashed source, sorted by relative path."""
    files = []
    for package in PACKAGES:
        root = _package_dir(package)
        if root is None:
            continue
        folder = package.rsplit(".", 1)[-1]
        for path in root.rglob("*.py"):
            relative = f"{folder}/{path.relative_to(root).as_posix()}"
            if package == "metabnn" and relative.split("/")[1] in ("benchmarks", "baselines",
                                                                    "hardware"):
                continue  # an installed wheel: its own entry below
            if "__pycache__" not in relative and not _excluded(relative):
                files.append((relative, path))
    return sorted(files)


@lru_cache(maxsize=1)
def source_hash() -> str:
    """16 hex digits of SHA-256 over the hashed sources (path, length, bytes of each)."""
    digest = hashlib.sha256()
    for relative, path in source_files():
        data = path.read_bytes()
        digest.update(f"{relative}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:16]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def fingerprint_id(body: dict[str, Any]) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of ``body`` without its ``id``."""
    canonical = json.dumps({k: v for k, v in body.items() if k != "id"}, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def code_fingerprint(device: torch.device | str = "cpu", *, threads: int | None = None,
                     kernels: str = "separate") -> dict[str, Any]:
    """The fingerprint of a run on ``device`` made by this process's code (module docstring).

    ``threads``: the intra-op threads the run computes on (default: torch's current count);
    ignored on a GPU.
    """
    device = torch.device(device)
    cpu = device.type == "cpu"
    body: dict[str, Any] = {
        "sources": source_hash(),
        "torch": torch.__version__,
        "avalanche-lib": _version("avalanche-lib"),
        "numpy": _version("numpy"),
        "device": device.type,
        "threads": (threads if threads is not None else torch.get_num_threads()) if cpu
        else None,
        "kernels": kernels,
        "plugins": _plugins_hash(),
    }
    return {"id": fingerprint_id(body), **body}


def _plugins_hash() -> str | None:
    from metabnn.extensions import source_files as extension_files

    files = extension_files()
    if not files:
        return None
    digest = hashlib.sha256()
    for label, path in files:
        data = path.read_bytes()
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:16]


def fingerprint_diff(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """What differs between two fingerprints, in words (``"sources, threads 1 -> 2"``)."""
    if not isinstance(old, dict):
        return "no fingerprint (made before fingerprints were recorded)"
    parts = []
    for key in ("sources", "plugins", "torch", "avalanche-lib", "numpy", "device", "threads",
                "kernels"):
        if old.get(key) != new.get(key):
            parts.append(key if key in ("sources", "plugins") else
                         f"{key} {old.get(key)} -> {new.get(key)}")
    return ", ".join(parts) or "same"
