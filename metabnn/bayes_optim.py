"""The learning rules of the Bayesian successors of the 2021 metaplastic rule: MESU and BiMU.

Both need no task boundaries: a memory window of ``N`` optimizer steps bounds what is
remembered (forgetting toward the prior), and each weight's own uncertainty sets its step size,
which is their form of metaplasticity. Written from the update equations (sources below); gradients
are of the minibatch loss summed over the batch (:mod:`metabnn.bayes`).

**MESU** (Metaplasticity from Synaptic Uncertainty; Bonnet et al., Nat. Commun. 2025, arXiv
2504.13569), per Gaussian weight :math:`N(\\mu, \\sigma^2)` with prior
:math:`N(\\mu_p, \\sigma_p^2)`:

.. math::

    \\Delta\\mu = \\eta_\\mu \\Big[-\\sigma^2 \\frac{\\partial C}{\\partial \\mu}
                 + \\frac{\\sigma^2}{N \\sigma_p^2} (\\mu_p - \\mu)\\Big], \\qquad
    \\Delta\\sigma = \\frac{\\eta_\\sigma}{2} \\Big[
                 -\\sigma^2 \\frac{\\partial C}{\\partial \\sigma}
                 + \\frac{\\sigma}{N \\sigma_p^2} (\\sigma_p^2 - \\sigma^2)\\Big]

with the old :math:`\\sigma` on both right-hand sides. It is one linearised step on
:math:`E_q[-\\log p(D_t|\\omega)] + (1 - \\tfrac1N) KL(q \\| q_{t-1}) + \\tfrac1N KL(q \\| p_0)`.
As :math:`N \\to \\infty` the prior terms vanish and the rule is the first-order Bayesian
gradient descent of Zeno et al. (2018): :math:`\\Delta\\mu = -\\sigma^2 g_\\mu`,
:math:`\\Delta\\sigma = -\\tfrac12 \\sigma^2 g_\\sigma` (as
:math:`g_\\sigma \\approx \\sigma \\times` curvature > 0 on average, σ keeps shrinking as data
accumulate: "catastrophic remembering"). With no gradient, :math:`\\mu \\to \\mu_p` and
:math:`\\sigma \\to \\sigma_p` with a time constant of about N steps. Optional
``clamp_grad`` c clips each gradient to :math:`\\pm c/\\sigma` (the authors' code; 0 = off).

**BiMU** (Binary Metaplasticity from Uncertainty; Cottart et al., ICML 2026, arXiv 2605.30198),
per binary weight with :math:`P(w = +1) = \\mathrm{sigmoid}(2\\lambda)`, :math:`t = \\tanh\\lambda`,
:math:`s = \\kappa (1 - t^2)` and :math:`\\tilde g = \\ell\\, \\partial L/\\partial\\lambda`:

.. math::

    \\Delta\\lambda = -\\frac{\\eta \\tilde g + \\lambda s / N}
                           {s + 2 \\tilde g t + 2 |\\tilde g| + 1/\\eta_{max}}

The numerator's second term is
:math:`(\\kappa/N)\\,
\\partial KL(\\mathrm{Bern}(\\lambda) \\| \\mathrm{Bern}(\\tfrac12))/\\partial\\lambda`:
relaxation toward the uniform prior, the bounded memory.
The denominator makes the step depend on the weight's state:
:math:`2|\\tilde g|(1 + \\mathrm{sign}(\\tilde g)\\, t)` is largest when the step would push
:math:`\\lambda` against its sign (a confident weight resists reversal), and :math:`1/\\eta_{max}`
caps the step near :math:`\\eta_{max}`. As
published, a step whose gradients are all zero (an unqueried sample) changes nothing. These
equations are those of the authors' public code (the paper body was not available to us).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

__all__ = ["MESU", "BiMU", "mesu_step", "bimu_step"]


def mesu_step(mu: torch.Tensor, sigma: torch.Tensor, g_mu: torch.Tensor, g_sigma: torch.Tensor,
              *, n: float, mu_prior: float, sigma_prior: float, lr_mu: float = 1.0,
              lr_sigma: float = 1.0, clamp_grad: float = 0.0
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The MESU increments ``(d_mu, d_sigma)`` (module docstring), elementwise."""
    if clamp_grad > 0:
        bound = clamp_grad / sigma
        g_mu = torch.maximum(torch.minimum(g_mu, bound), -bound)
        g_sigma = torch.maximum(torch.minimum(g_sigma, bound), -bound)
    var, var_p = sigma * sigma, sigma_prior * sigma_prior
    d_mu = lr_mu * (-var * g_mu + var * (mu_prior - mu) / (n * var_p))
    d_sigma = lr_sigma * 0.5 * (-var * g_sigma + sigma * (var_p - var) / (n * var_p))
    return d_mu, d_sigma


def bimu_step(lam: torch.Tensor, grad: torch.Tensor, *, n: float, lr: float, lr_max: float,
              likelihood: float, kl: float) -> torch.Tensor:
    """The BiMU increment of ``lam`` (module docstring), elementwise."""
    t = torch.tanh(lam)
    s = kl * (1 - t * t)
    g = likelihood * grad
    return -(lr * g + lam * s / n) / (s + 2 * g * t + 2 * g.abs() + 1 / lr_max)


class MESU(torch.optim.Optimizer):
    """MESU on ``pairs`` of ``(mu, sigma)`` parameters (one param group per pair)."""

    def __init__(self, pairs: Iterable[Sequence[torch.Tensor]], *, n: float,
                 sigma_prior: float = 1.0, mu_prior: float = 0.0, lr_mu: float = 1.0,
                 lr_sigma: float = 1.0, clamp_grad: float = 0.0) -> None:
        if not n > 0:
            raise ValueError(f"N={n!r} must be > 0 (optimizer steps)")
        if not sigma_prior > 0:
            raise ValueError(f"sigma_prior={sigma_prior!r} must be > 0")
        groups = [{"params": list(pair)} for pair in pairs]
        if any(len(g["params"]) != 2 for g in groups):
            raise ValueError("MESU takes (mu, sigma) pairs")
        super().__init__(groups, dict(n=n, sigma_prior=sigma_prior, mu_prior=mu_prior,
                                      lr_mu=lr_mu, lr_sigma=lr_sigma, clamp_grad=clamp_grad))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            mu, sigma = group["params"]
            if mu.grad is None or sigma.grad is None:
                continue
            d_mu, d_sigma = mesu_step(
                mu, sigma, mu.grad, sigma.grad, n=group["n"], mu_prior=group["mu_prior"],
                sigma_prior=group["sigma_prior"], lr_mu=group["lr_mu"],
                lr_sigma=group["lr_sigma"], clamp_grad=group["clamp_grad"])
            mu.add_(d_mu)
            sigma.add_(d_sigma)
        return loss


class BiMU(torch.optim.Optimizer):
    """BiMU on the ``lam`` parameters of Bernoulli layers."""

    def __init__(self, params: Iterable[torch.Tensor], *, n: float, lr: float, lr_max: float,
                 likelihood: float = 1.0, kl: float = 1.0) -> None:
        for name, value in (("N", n), ("lr", lr), ("lr_max", lr_max), ("kl", kl),
                            ("likelihood", likelihood)):
            if not value > 0:
                raise ValueError(f"{name}={value!r} must be > 0")
        super().__init__(list(params), dict(n=n, lr=lr, lr_max=lr_max, likelihood=likelihood,
                                            kl=kl))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            for lam in group["params"]:
                if lam.grad is None or not bool(lam.grad.any()):
                    continue  # no data in this step: no update, no forgetting (as published)
                lam.add_(bimu_step(lam, lam.grad, n=group["n"], lr=group["lr"],
                                   lr_max=group["lr_max"], likelihood=group["likelihood"],
                                   kl=group["kl"]))
        return loss
