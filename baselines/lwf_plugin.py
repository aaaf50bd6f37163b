"""LwF weighted as van de Ven & Tolias (2019): the loss of task ``N`` of the stream is
:math:`\\frac1N L_{CE} + (1 - \\frac1N)\\, T^2 L_{KD}`.

Avalanche's ``LwFPlugin`` adds :math:`\\alpha L_{KD}` to the cross-entropy, with the distillation
terms of all previous heads summed. The literature's form (the authors' code, ``train.py``)
weights the current task by the fraction of tasks it is, scales the distillation by
:math:`T^2` (Hinton et al. 2015, so its gradients keep their size as :math:`T` grows) and, with one
head per task, averages the distillation over the previous heads. Why a subclass: only
``before_backward`` differs; the teacher, its update after every experience and the
distillation itself (:math:`KL(q_{prev} \\| p_{curr})` at temperature :math:`T` on the classes
the teacher knew) are Avalanche's.
"""

from __future__ import annotations

from typing import Any

from avalanche.training.plugins import LwFPlugin

__all__ = ["TasksSeenLwFPlugin"]


class TasksSeenLwFPlugin(LwFPlugin):
    """LwF with the tasks-seen weighting (module docstring)."""

    def __init__(self, temperature: float = 2.0) -> None:
        super().__init__(alpha=1.0, temperature=temperature)

    def before_backward(self, strategy: Any, **kwargs: Any) -> None:
        lwf = self.lwf
        n = lwf.expcount + 1  # tasks so far, the current one included
        if lwf.prev_model is None:
            return  # the first task: cross-entropy alone (1/N = 1)
        kd = lwf._lwf_penalty(strategy.mb_output, strategy.mb_x, strategy.model)
        heads = max(len(lwf.prev_classes_by_task), 1) if getattr(
            strategy.model, "multi_head", False) else 1
        strategy.loss = (strategy.loss / n
                         + (1 - 1 / n) * lwf.temperature ** 2 * kd / heads)
