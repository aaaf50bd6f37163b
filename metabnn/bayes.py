"""Bayesian networks whose weights are distributions: the models of MESU and BiMU.

* :class:`GaussianLinear` — mean-field Gaussian weights
  :math:`\\omega = \\mu + \\sigma\\,\\epsilon`, :math:`\\epsilon \\sim N(0, I)`,
  one sample shared by the whole minibatch, no bias (Bonnet et
  al., "Bayesian continual learning and forgetting in neural networks", Nat. Commun. 2025,
  arXiv 2504.13569). Init :math:`\\mu \\sim U(\\pm 4/\\sqrt{fan_{in}})`,
  :math:`\\sigma = 2/\\sqrt{fan_{in}}` (the MESU authors' permuted-MNIST code).
* :class:`BernoulliLinear` — binary weights :math:`w \\in \\{-1, +1\\}` with
  :math:`P(w = +1) = \\mathrm{sigmoid}(2\\lambda)`, so :math:`E[w] = \\tanh\\lambda` (Cottart et
  al., "Active continual learning with metaplastic binary Bayesian neural networks", ICML 2026,
  arXiv 2605.30198; the parameterisation of BayesBiNN, Meng et al. ICML 2020). Training uses the
  logistic relaxation :math:`w = \\tanh((\\lambda + \\tfrac12 \\mathrm{logit}\\,u)/\\tau)`,
  :math:`u \\sim U(0, 1)`, through which :math:`\\partial L/\\partial\\lambda` flows; evaluation
  draws hard :math:`\\pm 1` samples. Init :math:`\\lambda \\sim U(\\pm 1/\\sqrt{fan_{in}})`.

A :class:`SampledNet` averages ``samples`` weight draws: its output is
:math:`\\frac1S \\sum_s \\log \\mathrm{softmax} f(x; \\omega_s)` (S = ``train_samples`` in training,
``test_samples`` in evaluation), so the papers' loss
:math:`-\\sum_{batch} \\frac1S \\sum_s \\log \\mathrm{softmax}_y` is
``NLLLoss(reduction="sum")`` of it and the class
decision is its argmax (the papers' geometric-mean ensemble).
:meth:`SampledNet.sample_probs` gives the S softmax vectors for uncertainty
(:mod:`metabnn.uncertainty`).

Weight noise comes from the net's own generators, seeded by :meth:`SampledNet.seed_noise`: one for
training, one for evaluation, so how often a run evaluates never changes its training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from metabnn.models import MODELS

__all__ = ["GaussianLinear", "BernoulliLinear", "SampledNet", "GaussianMLP", "BinaryBayesMLP",
           "BinaryGate"]


class _Noisy(nn.Module):
    """A layer that draws its weight noise from its net's generator (set by the net)."""

    generator: torch.Generator | None = None

    def _rand(self, shape: torch.Size, device: torch.device, kind: str) -> torch.Tensor:
        if kind == "normal":
            return torch.randn(shape, generator=self.generator, device=device)
        return torch.rand(shape, generator=self.generator, device=device)


class GaussianLinear(_Noisy):
    """``x @ omega.T`` with :math:`\\omega = \\mu + \\sigma \\epsilon` drawn once per forward."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.mu = nn.Parameter(torch.empty(out_features, in_features))
        self.sigma = nn.Parameter(torch.empty(out_features, in_features))

    @torch.no_grad()
    def init_(self, generator: torch.Generator) -> None:
        bound = 4.0 / math.sqrt(self.in_features)
        self.mu.copy_(torch.rand(self.mu.shape, generator=generator) * (2 * bound) - bound)
        self.sigma.fill_(bound / 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eps = self._rand(self.mu.shape, self.mu.device, "normal")
        return x @ (self.mu + self.sigma * eps).t()


class BernoulliLinear(_Noisy):
    """``x @ w.T`` with binary weights of logit :math:`2\\lambda`; relaxed samples in training
    (temperature ``tau``), hard ``±1`` samples in evaluation."""

    def __init__(self, in_features: int, out_features: int, tau: float = 1.0) -> None:
        super().__init__()
        self.in_features, self.out_features, self.tau = in_features, out_features, tau
        self.lam = nn.Parameter(torch.empty(out_features, in_features))

    @torch.no_grad()
    def init_(self, generator: torch.Generator) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        self.lam.copy_(torch.rand(self.lam.shape, generator=generator) * (2 * bound) - bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self._rand(self.lam.shape, self.lam.device, "uniform").clamp_(1e-6, 1 - 1e-6)
        delta = torch.log(u) - torch.log1p(-u)  # logit(u): logistic noise
        if self.training:
            w = torch.tanh((self.lam + delta / 2) / self.tau)
        else:  # P(+1) = sigmoid(2 lam) <=> 2 lam + logit(u) > 0
            w = torch.where(2 * self.lam + delta > 0, 1.0, -1.0).to(x.dtype)
        return x @ w.t()


class BinaryGate(torch.autograd.Function):
    """BiMU's hidden activation: :math:`a = 1[|x| > 1] \\in \\{0, 1\\}`; surrogate gradient +1 on
    (0.5, 1.5), -1 on (-1.5, -0.5), 0 elsewhere (the authors' code)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return (x.abs() > 1).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        slope = ((x > 0.5) & (x < 1.5)).to(grad.dtype) - ((x > -1.5) & (x < -0.5)).to(grad.dtype)
        return grad * slope


class SampledNet(nn.Module):
    """An ensemble over weight samples (module docstring); subclasses build ``self.layers``
    and :meth:`single` (one forward with one weight sample)."""

    def __init__(self, train_samples: int, test_samples: int) -> None:
        super().__init__()
        if train_samples < 1 or test_samples < 1:
            raise ValueError("train_samples and test_samples must be >= 1")
        self.train_samples, self.test_samples = train_samples, test_samples
        self._seed = 0
        self._generators: dict[str, torch.Generator] = {}

    def noisy_layers(self) -> list[_Noisy]:
        return [m for m in self.modules() if isinstance(m, _Noisy)]

    def seed_noise(self, seed: int) -> None:
        """Seed the training and evaluation noise (fresh generators on the weights' device)."""
        self._seed = seed
        self._generators = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        phase = "train" if self.training else "eval"
        gen = self._generators.get(phase)
        if gen is None or gen.device != device:
            gen = torch.Generator(device=device)
            gen.manual_seed(self._seed * 2 + (phase == "eval"))
            self._generators[phase] = gen
        return gen

    @torch.no_grad()
    def init_(self, generator: torch.Generator) -> SampledNet:
        for layer in self.noisy_layers():
            layer.init_(generator)  # type: ignore[attr-defined]
        return self

    def single(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _draw(self, x: torch.Tensor, samples: int) -> torch.Tensor:
        """(samples, B, C) log-softmax of ``samples`` weight draws."""
        gen = self._generator(x.device)
        for layer in self.noisy_layers():
            layer.generator = gen
        return torch.stack([torch.log_softmax(self.single(x), dim=-1) for _ in range(samples)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        samples = self.train_samples if self.training else self.test_samples
        return self._draw(x.flatten(1), samples).mean(0)

    @torch.no_grad()
    def sample_probs(self, x: torch.Tensor, samples: int | None = None) -> torch.Tensor:
        """(S, B, C) softmax of S weight samples (evaluation noise)."""
        return self._draw(x.flatten(1), samples or self.test_samples).exp()


@MODELS.register("gaussian-mlp", description="mean-field Gaussian MLP (ReLU, no bias, no "
                 "BatchNorm) for MESU (Bonnet et al. 2025)", batchnorm=False, init="own",
                 uncertainty="bayes")
class GaussianMLP(SampledNet):
    """``GaussianLinear -> ReLU`` per hidden layer, a Gaussian output layer."""

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (50,),
                 out_features: int = 10, *, train_samples: int = 10, test_samples: int = 10,
                 **_: object) -> None:
        super().__init__(train_samples, test_samples)
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(GaussianLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def single(self, x: torch.Tensor) -> torch.Tensor:
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = torch.relu(x)
        return x


@MODELS.register("bayes-bnn", description="binary Bayesian MLP (Bernoulli weights, LayerNorm, "
                 "binary gate) for BiMU (Cottart et al. 2026)", batchnorm=False, init="own",
                 uncertainty="bayes")
class BinaryBayesMLP(SampledNet):
    """``BernoulliLinear -> LayerNorm (no affine)`` per layer, :class:`BinaryGate` between
    layers (the BiMU authors' permuted-MNIST network)."""

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (100,),
                 out_features: int = 10, *, train_samples: int = 5, test_samples: int = 5,
                 tau: float = 1.0, **_: object) -> None:
        super().__init__(train_samples, test_samples)
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(BernoulliLinear(a, b, tau)
                                    for a, b in zip(sizes[:-1], sizes[1:]))
        self.norms = nn.ModuleList(nn.LayerNorm(b, elementwise_affine=False) for b in sizes[1:])

    def single(self, x: torch.Tensor) -> torch.Tensor:
        for k, (layer, norm) in enumerate(zip(self.layers, self.norms)):
            x = norm(layer(x))
            if k < len(self.layers) - 1:
                x = BinaryGate.apply(x)
        return x
