"""Three diagonal Fisher estimators for EWC, and the per-layer shuffle of random consolidation.

* ``"minibatch"`` (Avalanche's ``EWCPlugin``): the mean over minibatches of the squared
  minibatch-mean gradient, :math:`F = \\frac{1}{K}\\sum_k (\\frac{1}{B}\\sum_{i\\in k} g_i)^2`.
  Near a minimum the mean gradient is small and :math:`F \\approx F_{ps} / B`, so a lambda tuned
  for one estimator is not portable to the other.
* ``"per-sample"`` (the empirical Fisher of Kirkpatrick et al. 2017, as used for BNNs by
  Laborieux et al. 2021 with lambda = 5000): :math:`F = \\frac1N \\sum_i g_i^2`. For a linear
  layer :math:`y = x W^T` the gradient of sample ``i`` is the outer product
  :math:`\\delta_i x_i^T` with :math:`\\delta_i = \\partial L/\\partial y_i`, so
  :math:`\\sum_i g_i^2 = (\\delta^2)^T (x^2)`: one backward pass per minibatch instead of one per
  sample (Goodfellow 2015, "Efficient per-example gradient computations"). ``x`` is the layer's
  input *after* its input quantizer and the weight gradient is that of the binary weight (the
  identity STE hands it to the hidden weight). With batch-statistics BatchNorm the samples of a
  minibatch are coupled; :math:`\\delta_i` is then each sample's share of the minibatch gradient
  of the summed loss, which equals the per-sample gradient when nothing couples samples (tested
  against a per-sample loop). A layer's bias gets :math:`\\sum_i \\delta_i^2`.
* ``"predicted"``: the same per-sample sum with each sample's label replaced by the model's own
  prediction (its argmax), the estimator of van de Ven & Tolias (2019; their code's default:
  one pass over the task's training set).

Random consolidation (Laborieux et al. 2021, control of Fig. 2) keeps each layer's Fisher values
but assigns them to random weights: :func:`shuffle_within_layers`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from metabnn.layers import BinaryLayer

__all__ = ["ESTIMATORS", "per_sample_fisher", "shuffle_within_layers"]

ESTIMATORS = ("minibatch", "per-sample", "predicted")


def _batches(x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None, batch_size: int,
             limit: int | None):
    n = len(y) if limit is None else min(limit, len(y))
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield x[start:stop], y[start:stop], None if t is None else t[start:stop]


def per_sample_fisher(
    model: nn.Module,
    layers: Mapping[str, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 100,
    max_samples: int | None = None,
    task_labels: torch.Tensor | None = None,
    predicted: bool = False,
) -> dict[str, torch.Tensor]:
    """:math:`\\frac1N\\sum_i g_i^2` for the ``weight`` (and ``bias``) of each ``nn.Linear``
    in ``layers``.

    Keys are ``"<layer name>.weight"`` and ``"<layer name>.bias"``; the first ``max_samples``
    examples are used (all when None). ``predicted``: labels are the model's own argmax (the
    ``"predicted"`` estimator). A multi-head model is given ``task_labels``. Runs the model in
    its current train/eval mode.
    """
    for name, layer in layers.items():
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"per-sample Fisher supports nn.Linear layers; {name} is "
                            f"{type(layer).__name__}")
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor):
            inp = inputs[0]
            if isinstance(module, BinaryLayer):
                inp = module._quantize_input(inp)
            seen[name] = (inp.detach(), out)  # (B, in), (B, out)
        return record

    handles = [layer.register_forward_hook(hook(n)) for n, layer in layers.items()]
    fisher = {f"{n}.weight": torch.zeros_like(layer.weight) for n, layer in layers.items()}
    fisher.update({f"{n}.bias": torch.zeros_like(layer.bias) for n, layer in layers.items()
                   if layer.bias is not None})
    heads = getattr(model, "multi_head", False)
    n_seen = 0
    try:
        for xb, yb, tb in _batches(x, y, task_labels, batch_size, max_samples):
            seen.clear()
            logits = model(xb, tb) if heads else model(xb)
            if predicted:
                yb = logits.detach().argmax(1)
            loss = F.cross_entropy(logits, yb, reduction="sum")
            names = list(layers)
            deltas = torch.autograd.grad(loss, [seen[n][1] for n in names])
            for name, delta in zip(names, deltas):
                inp = seen[name][0]
                fisher[f"{name}.weight"] += delta.square().T @ inp.square()  # (out, in)
                if f"{name}.bias" in fisher:
                    fisher[f"{name}.bias"] += delta.square().sum(0)  # (out,)
            n_seen += len(yb)
    finally:
        for h in handles:
            h.remove()
    return {n: f / max(n_seen, 1) for n, f in fisher.items()}


def shuffle_within_layers(
    fisher: Mapping[str, torch.Tensor], generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Each tensor's values permuted at random (same multiset per layer, new positions)."""
    out = {}
    for name, f in fisher.items():
        flat = f.reshape(-1)
        perm = torch.randperm(flat.numel(), generator=generator).to(flat.device)
        out[name] = flat[perm].reshape(f.shape)
    return out
