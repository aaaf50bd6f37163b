"""Continual-learning strategies, registered by name in :data:`STRATEGIES`."""

from baselines import meta  # noqa: F401  (registers)
from baselines.registry import STRATEGIES

__all__ = ["STRATEGIES"]
