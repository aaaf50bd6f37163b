"""Continual-learning streams, registered by name in :data:`STREAMS`.

Importing this package enrols every stream; Avalanche is imported only when a stream is built.
"""

from benchmarks import pmnist  # noqa: F401  (registers)
from benchmarks.registry import STREAMS, Stream, check_scenario

__all__ = ["STREAMS", "Stream", "check_scenario"]
