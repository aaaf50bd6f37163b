"""Test accuracy of a model on in-memory tensors, in large batches, without per-sample work."""

from __future__ import annotations

import torch
from torch import nn

from metabnn.data import batch_bounds

__all__ = ["accuracy"]


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000,
             task_labels: torch.Tensor | None = None) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y``, in eval mode, in batches.

    A multi-head model (``model.multi_head``, :class:`metabnn.heads.MultiHeadModel`) is given
    each example's ``task_labels``. Restores the model's train/eval mode afterwards. One host
    synchronisation per call.
    """
    heads = getattr(model, "multi_head", False)
    if heads and task_labels is None:
        raise ValueError("a multi-head model needs the task labels of the examples")
    was_training = model.training
    model.eval()
    try:
        correct = torch.zeros((), dtype=torch.long, device=y.device)
        for start, stop in batch_bounds(len(x), batch_size):  # no lone last example
            batch = x[start:stop]
            logits = (model(batch, task_labels[start:stop]) if heads
                      else model(batch))  # (B, classes)
            correct += (logits.argmax(1) == y[start:stop]).sum()
        return correct.item() / max(len(x), 1)
    finally:
        model.train(was_training)
