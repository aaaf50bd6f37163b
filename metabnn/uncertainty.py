"""Predictive uncertainty and out-of-distribution detection.

From S softmax vectors :math:`p_s(x)` of weight samples (one, for a deterministic network) and
:math:`\\bar p = \\frac1S \\sum_s p_s`, in bits:

* predictive entropy :math:`H[\\bar p] = -\\sum_c \\bar p_c \\log_2 \\bar p_c` (total
  uncertainty; for a deterministic network, the softmax entropy);
* aleatoric :math:`\\frac1S \\sum_s H[p_s]`;
* epistemic = mutual information between the prediction and the weights,
  :math:`H[\\bar p] - \\frac1S \\sum_s H[p_s] \\ge 0` (BALD; the score of Bonnet et al. 2025);
* variation ratio :math:`1 - \\frac1S \\#\\{s: \\arg\\max p_s = \\arg\\max \\bar p\\}` (Monte-Carlo
  disagreement, Cottart et al. 2026).

OOD detection scores in-distribution and out-of-distribution images alike and reports the area
under the ROC curve of "out" against "in" (:func:`auroc`: 1 = perfectly separated, 0.5 = chance),
computed by scikit-learn.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["SCORES", "uncertainty", "auroc", "ood_report"]

SCORES = ("predictive_entropy", "aleatoric", "epistemic", "variation_ratio")


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log2(p.clamp_min(1e-30))).sum(-1)


def uncertainty(probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every score of :data:`SCORES` per input from ``probs`` of shape (S, B, C)."""
    if probs.dim() != 3:
        raise ValueError(f"probs must be (samples, batch, classes), got {tuple(probs.shape)}")
    mean = probs.mean(0)
    predictive = _entropy(mean)
    aleatoric = _entropy(probs).mean(0)
    agree = (probs.argmax(-1) == mean.argmax(-1)).to(probs.dtype).mean(0)
    return {"predictive_entropy": predictive, "aleatoric": aleatoric,
            "epistemic": (predictive - aleatoric).clamp_min(0), "variation_ratio": 1 - agree}


def auroc(scores_in: torch.Tensor, scores_out: torch.Tensor) -> float:
    """Area under the ROC curve of detecting "out" by a higher score (ties count one half)."""
    from sklearn.metrics import roc_auc_score

    y = torch.cat([torch.zeros(len(scores_in)), torch.ones(len(scores_out))])
    s = torch.cat([scores_in.detach().cpu().double(), scores_out.detach().cpu().double()])
    if not bool(torch.isfinite(s).all()):
        raise ValueError("the model's uncertainty is not finite (NaN or inf: did training "
                         "diverge?); no AUROC")
    return float(roc_auc_score(y.numpy(), s.numpy()))


@torch.no_grad()
def ood_report(model: torch.nn.Module, x_in: torch.Tensor, x_out: torch.Tensor, *,
               batch_size: int = 1000, task: int = 0) -> dict[str, Any]:
    """AUROC of every score for ``x_in`` (in distribution) against ``x_out``.

    A model with ``sample_probs`` (:mod:`metabnn.bayes`) gives its weight samples; any other
    gives its softmax (one sample: epistemic and variation ratio are then 0 for every input and
    are not reported). ``primary`` names the score the papers use: epistemic for a Bayesian
    model, predictive entropy otherwise. A multi-head model answers with the head of ``task``.
    """
    was_training = model.training
    model.eval()
    try:
        scores = [_scores(model, x, batch_size, task) for x in (x_in, x_out)]
    finally:
        model.train(was_training)
    bayes = hasattr(model, "sample_probs")
    names = SCORES if bayes else ("predictive_entropy",)
    out = {f"auroc_{n}": auroc(scores[0][n], scores[1][n]) for n in names}
    primary = "epistemic" if bayes else "predictive_entropy"
    return {"auroc": out[f"auroc_{primary}"], "score": primary, **out,
            "n_in": len(x_in), "n_out": len(x_out)}


def _scores(model: Any, x: torch.Tensor, batch_size: int, task: int
            ) -> dict[str, torch.Tensor]:
    parts: list[dict[str, torch.Tensor]] = []
    heads = getattr(model, "multi_head", False)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        if hasattr(model, "sample_probs"):
            probs = model.sample_probs(xb)
        else:
            logits = (model(xb, torch.full((len(xb),), task, device=xb.device)) if heads
                      else model(xb))
            probs = torch.softmax(logits, -1)[None]
        parts.append(uncertainty(probs))
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
