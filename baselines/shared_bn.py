"""One BatchNorm state for all seen tasks, for strategies that retrain on old tasks' data.

The task-incremental protocol (:class:`metabnn.plugins.TaskBatchNormPlugin`) snapshots the
BatchNorm state after each experience and restores it when that task is tested. That is right
for sequential training, where task ``j``'s BatchNorm was last fitted at experience ``j``. It is
wrong for GDumb (which retrains a fresh model from the buffer at every experience, so old
snapshots belong to a discarded network) and for cumulative and joint training (whose one
BatchNorm is fitted on all seen tasks together): :class:`SharedBatchNormPlugin` drops the old
snapshots at the start of each experience, so every task is tested with the current state.
"""

from __future__ import annotations

from typing import Any

from avalanche.core import SupervisedPlugin

from metabnn.plugins import TaskBatchNormPlugin

__all__ = ["SharedBatchNormPlugin"]


class SharedBatchNormPlugin(SupervisedPlugin):
    """Forget per-task BatchNorm snapshots before each experience (see module docstring)."""

    def before_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        for plugin in strategy.plugins:
            if isinstance(plugin, TaskBatchNormPlugin):
                plugin.states.clear()
