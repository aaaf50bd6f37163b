"""Strategies, streams, models and hardware cells from the user's own code.

A user's module registers its objects with the decorators metabnn's own use
(``@STRATEGIES.register`` from :mod:`metabnn.baselines`, ``@STREAMS.register`` from
:mod:`metabnn.benchmarks`, ``@MODELS.register`` from :mod:`metabnn.models`, ``@HARDWARE.register``
from :mod:`metabnn.hardware`). metabnn imports it from three places, once per process:

* an **entry point** of the group :data:`GROUP` in an installed package's metadata::

      [project.entry-points."metabnn.plugins"]
      rotated = "metabnn_rotated"

* the environment variable :data:`ENV`: module names or ``.py`` paths, comma-separated;
* ``metabnn ... --plugins MODULE`` (which also sets :data:`ENV`, so sweep workers load them).

Registries load the extensions before answering (:meth:`metabnn.registry.Registry.entry`), so a
name from the user's package resolves like a built-in one. The source files of every loaded
module are hashed into the code fingerprint (:func:`source_files`): a run made before the
user's code changed is not reused after.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

__all__ = ["GROUP", "ENV", "load", "loaded", "source_files", "ExtensionError"]

GROUP = "metabnn.plugins"
ENV = "METABNN_PLUGINS"

_LOADED: dict[str, ModuleType] = {}
_STATE = {"loading": False, "done": ""}


class ExtensionError(ValueError):
    """A user's extension module could not be imported (one line, exit code 2)."""


def _import(spec: str) -> ModuleType:
    try:
        if spec.endswith(".py"):
            path = Path(spec).resolve()
            name = f"metabnn_user_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
            return module
        return importlib.import_module(spec)
    except Exception as err:
        raise ExtensionError(f"extension {spec!r} failed to import: {type(err).__name__}: "
                             f"{err}") from None


@functools.cache
def _entry_point_modules() -> tuple[str, ...]:
    """The modules the installed packages name under :data:`GROUP`, read once per process:
    scanning every installed distribution's metadata takes tens of milliseconds, and the
    registries ask before every lookup (a board build validates hundreds of configs)."""
    return tuple(ep.value.split(":")[0] for ep in metadata.entry_points(group=GROUP))


def _wanted(extra: tuple[str, ...]) -> list[str]:
    specs = list(_entry_point_modules())
    specs += [s.strip() for s in os.environ.get(ENV, "").split(",") if s.strip()]
    specs += list(extra)
    return list(dict.fromkeys(specs))


def load(*extra: str) -> list[str]:
    """Import every extension module not imported yet (entry points, :data:`ENV`, ``extra``);
    the names of the modules loaded so far."""
    specs = _wanted(extra)
    key = "\0".join(specs)
    if _STATE["loading"] or _STATE["done"] == key:
        return list(_LOADED)
    _STATE["loading"] = True
    try:
        for spec in specs:
            if spec not in _LOADED:
                _LOADED[spec] = _import(spec)
        _STATE["done"] = key
    finally:
        _STATE["loading"] = False
    return list(_LOADED)


def loaded() -> dict[str, ModuleType]:
    """The extension modules imported so far, by the name or path they were given as."""
    return dict(_LOADED)


def source_files() -> list[tuple[str, Path]]:
    """``(label, file)`` of every source file of the loaded extensions (a package: all its
    ``.py`` files), sorted."""
    files: list[tuple[str, Path]] = []
    for spec, module in _LOADED.items():
        origin = Path(getattr(module, "__file__", "") or "")
        if not origin.name:
            continue
        if origin.name == "__init__.py":
            root = origin.parent
            files += [(f"{spec}/{p.relative_to(root).as_posix()}", p)
                      for p in root.rglob("*.py") if "__pycache__" not in p.parts]
        else:
            files.append((spec, origin))
    return sorted(files)
