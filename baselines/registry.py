"""The strategy registry.

A strategy factory is ``factory(model, config: RunConfig, *, device, plugins) -> strategy`` (an
Avalanche template), enrolled with ``@STRATEGIES.register(name, scenarios=..., params=...)``;
``params`` maps each tunable parameter to ``(default, source)`` for ``metabnn list strategies``,
and ``optimizer_reset`` states the strategy's optimizer-state policy for results files.
"""

from __future__ import annotations

from typing import Any

from metabnn.registry import Registry

__all__ = ["STRATEGIES"]

STRATEGIES: Registry[Any] = Registry("strategy")
