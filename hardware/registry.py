"""The hardware registry: memory cell models by name (``metabnn list hardware``).

A cell model is a frozen dataclass (:class:`metabnn.hardware.cells.CellModel`) enrolled with
``@HARDWARE.register(name)``; ``HARDWARE.get(name)()`` builds it with its published defaults.
"""

from __future__ import annotations

from typing import Any

from metabnn.registry import Registry

__all__ = ["HARDWARE"]

HARDWARE: Registry[Any] = Registry("hardware")
