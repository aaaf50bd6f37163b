"""One registry helper for every pluggable kind (streams, strategies, models, devices).

Registration is a decorator at the definition site, as timm's ``@register_model``::

    MODELS = Registry("model")

    @MODELS.register("bnn-mlp", description="binary MLP")
    def bnn_mlp(...): ...

``names()`` lists, ``get(name)`` resolves, and ``get`` also accepts the registered object itself,
so that a name and its object are interchangeable. Duplicate names raise. Before listing or
failing to find a name, a registry imports the user's extension modules
(:mod:`metabnn.extensions`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "Entry", "UnknownNameError", "coerce_param"]


def coerce_param(where: str, value: Any, default: Any) -> Any:
    """``value`` as the type of its declared ``default`` (a float accepts an int); a value of
    another type is refused with a ``ConfigError`` that starts with ``where``."""
    from metabnn.config import ConfigError

    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number")
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string")
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list")
        return list(value)
    return value


def _extensions() -> None:
    from metabnn.extensions import load

    load()

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """Raised for a name that is not registered; the message suggests the closest names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its human-facing metadata."""

    name: str
    obj: T
    description: str = ""
    info: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A name -> object table for one kind of thing."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self, name: str, *, description: str = "", **info: Any
    ) -> Callable[[T], T]:
        """Decorator: enrol ``obj`` under ``name``; ``info`` is free-form metadata for listings."""

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            doc = description or (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]
            self._entries[name] = Entry(name, obj, doc, dict(info))
            return obj

        return decorator

    def names(self) -> list[str]:
        _extensions()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[n] for n in self.names()]

    def entry(self, name: str) -> Entry[T]:
        if name not in self._entries:
            _extensions()  # the user's own strategies, streams, models, cells
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})"
            ) from None

    def get(self, name_or_obj: str | T) -> T:
        if isinstance(name_or_obj, str):
            return self.entry(name_or_obj).obj
        if any(e.obj is name_or_obj for e in self._entries.values()):
            return name_or_obj
        raise UnknownNameError(f"{name_or_obj!r} is not a registered {self.kind}")

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
