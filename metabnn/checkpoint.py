"""Checkpoint files: atomic writes of plain state, safe loads, and the run's RNG states.

A checkpoint is a nested container of tensors, numbers, strings, ``None``, lists, tuples and
dicts with string or integer keys: state dicts, never pickled objects. :func:`save_checkpoint`
refuses anything else *before* writing, and writes like :func:`metabnn.results.write_json_atomic`:
a temporary file in the same folder, flushed and fsynced, then ``os.replace``-d over the target,
so a crash or a full disk leaves the previous checkpoint intact. :func:`load_checkpoint` reads
with ``torch.load(weights_only=True)``, which unpickles tensors and plain containers only: a file
holding any other object (e.g. a pickled class instance, which could run code when loaded) is
refused with :class:`CheckpointError`.

Why not Avalanche's checkpointing: ``avalanche.training.checkpoint`` pickles whole strategies
with ``dill`` and does not load on current torch (``weights_only`` became the default in torch
2.6); it also cannot be read safely.
"""

from __future__ import annotations

import os
import pickle
import random
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CheckpointError",
    "FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "check_plain",
    "rng_state",
    "set_rng_state",
]

#: Format version stored in every checkpoint; a different version is refused at load.
FORMAT = 1

_SCALARS = (bool, int, float, str, type(None))


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read safely; the message says which file and why."""


def check_plain(obj: Any, where: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` unless ``obj`` is plain state (see the module docstring).

    ``where`` names the offending entry in the message (``checkpoint.plugins.0.states``).
    """
    if isinstance(obj, torch.Tensor) or isinstance(obj, _SCALARS):
        return
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            check_plain(item, f"{where}.{i}")
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise CheckpointError(f"{where}: key {key!r} is not a string or integer")
            check_plain(value, f"{where}.{key}")
        return
    raise CheckpointError(f"{where}: {type(obj).__qualname__} is not plain state (tensors, "
                          "numbers, strings, lists and dicts only)")


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` (plain state only, checked first) to ``path`` atomically.

    :raises CheckpointError: if ``state`` holds anything but plain state (nothing is written).
    :raises OSError: if the write fails (e.g. disk full); the previous file is left as it was.
    """
    check_plain(state)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save({"format": FORMAT, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def _refused_because(err: pickle.UnpicklingError) -> str:
    """The line of torch's refusal that names what was refused ("Unsupported global: GLOBAL
    datetime.date was not an allowed global by default"), else its last line."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    named = next((line for line in lines if "Unsupported" in line), None)
    if named is not None:
        return named[named.index("Unsupported"):].split(". Please")[0].rstrip(".")
    return lines[-1] if lines else type(err).__name__


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` onto the CPU.

    :raises CheckpointError: the file holds a pickled object other than plain state, is not a
        checkpoint, has another format version, or is a symlink out of its folder.
    """
    path = Path(path)
    if path.is_symlink() and not path.resolve().is_relative_to(path.parent.resolve()):
        raise CheckpointError(f"checkpoint {path} refused: a symlink to {path.resolve()}, "
                              "outside its folder")
    if path.exists() and path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (truncated?): move it aside to start "
                              "over")
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol: refused below anyway
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"checkpoint {path} refused: it holds an object that is not plain "
                              f"state ({_refused_because(err)[:200]})") from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise CheckpointError(f"checkpoint {path} is unreadable: {type(err).__name__}: "
                              f"{str(err).splitlines()[0][:200] if str(err) else ''}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {path} refused: format {found!r}, expected {FORMAT}")
    return state


def rng_state() -> dict[str, Any]:
    """The global generators' states: torch (CPU and CUDA), numpy and Python's ``random``.

    numpy's and Python's states become tensors and lists, so the result is plain state.
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": int(version), "state": list(internal), "gauss_next": gauss_next},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
