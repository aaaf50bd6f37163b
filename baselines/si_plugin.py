"""Avalanche's ``SynapticIntelligencePlugin`` with its CPU aliasing bug fixed.

Synaptic Intelligence (Zenke, Poole & Ganguli 2017): during training, each weight accumulates
:math:`\\omega_k = -\\sum_t g_k(t)\\, \\Delta\\theta_k(t)`; after the experience its importance is
:math:`\\Omega_k = \\omega_k / ((\\theta_k - \\theta^*_k)^2 + \\xi)`, and later experiences add
:math:`\\frac{\\lambda}{2} \\sum_k \\Omega_k (\\theta_k - \\theta^*_k)^2` to the loss.
Avalanche additionally clips :math:`\\Omega` at 0.001 (``clip_to``, exposed here).

Why a subclass: Avalanche 0.6 snapshots weights with ``param.detach().cpu().flatten()``. On a CPU
tensor ``.cpu()`` is the tensor itself and ``.flatten()`` of a contiguous tensor is a view, so the
"old" weights and the anchor :math:`\\theta^*` alias the live parameters: every
:math:`\\Delta\\theta` is 0, every importance is 0, and SI silently equals naive training on
CPU (measured: identical accuracy matrices). Here those two snapshots are copies.
"""

from __future__ import annotations

from typing import Any

import torch
from avalanche.training.plugins import SynapticIntelligencePlugin

__all__ = ["CopyingSIPlugin"]


class CopyingSIPlugin(SynapticIntelligencePlugin):
    """SI whose weight snapshots are copies, with the importance clip as a parameter."""

    def __init__(self, si_lambda: float, eps: float = 1e-7, clip_to: float = 0.001) -> None:
        super().__init__(si_lambda=si_lambda, eps=eps)
        self.clip_to = clip_to

    @torch.no_grad()
    def _snapshot(self, model: torch.nn.Module, target: dict[str, Any]) -> None:
        for name, param in self.allowed_parameters(model, self.excluded_parameters):
            target[name].data = param.detach().flatten().clone().cpu()

    def before_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        super().before_training_exp(strategy, **kwargs)
        self._snapshot(strategy.model, self.ewc_data[0])  # the anchor theta*

    def before_training_iteration(self, strategy: Any, **kwargs: Any) -> None:
        self._snapshot(strategy.model, self.syn_data["old_theta"])

    def after_training_exp(self, strategy: Any, **kwargs: Any) -> None:
        self.update_ewc_data(strategy.model, self.ewc_data, self.syn_data, self.clip_to,
                             self.excluded_parameters, 1, eps=self.eps)
