"""The Avalanche plugin of a hardware backend: it keeps the memory arrays in step with training.

After every optimizer step the arrays write the weights whose sign flipped (write-on-flip; the
optimizer proposes, the array executes) and the ledger counts the digital updates; after every
experience the task's flips and writes are recorded (endurance) and a retention event, if any,
is applied. Works with any strategy that calls ``after_update`` (every Avalanche template).
"""

from __future__ import annotations

from typing import Any

from avalanche.core import SupervisedPlugin

from metabnn.hardware.backend import HardwareBackend

__all__ = ["HardwarePlugin"]


class HardwarePlugin(SupervisedPlugin):
    """Syncs a :class:`~metabnn.hardware.backend.HardwareBackend` with the optimizer."""

    def __init__(self, backend: HardwareBackend) -> None:
        super().__init__()
        self.backend = backend
        self._task = 0

    def after_update(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self.backend.after_update()

    def after_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self.backend.end_task(int(strategy.experience.current_experience))
