"""Continual-learning strategies, registered by name in :data:`STRATEGIES`.

Importing this package registers every strategy without importing Avalanche: each factory
imports its Avalanche pieces when it builds a strategy. ``metabnn list strategies`` prints
:func:`strategy_table`.
"""

from metabnn.baselines import (  # noqa: F401 (registers)
    bayes,
    bop,
    ewc,
    joint,
    meta,
    regularization,
    rehearsal,
)
from metabnn.baselines.registry import (
    STRATEGIES,
    check_strategy,
    hyperparameters,
    strategy_record,
    strategy_table,
)

__all__ = ["STRATEGIES", "check_strategy", "hyperparameters", "strategy_record", "strategy_table"]
