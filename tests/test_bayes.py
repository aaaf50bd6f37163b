"""MESU and BiMU: one update against the papers' equations worked by hand, the limits they
state, the weight-sampling layers, uncertainty scores and AUROC, and both strategies end to end
on real MNIST with out-of-distribution detection against Fashion-MNIST."""

from __future__ import annotations

import math

import pytest
import torch

from metabnn.bayes import BernoulliLinear, GaussianLinear, GaussianMLP
from metabnn.bayes_optim import MESU, BiMU, bimu_step, mesu_step
from metabnn.uncertainty import auroc, uncertainty


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_mesu_one_step_by_hand():
    # sigma 0.5, mu 0.2, dC/dmu 1, dC/dsigma 2, N 10, prior N(0, 1):
    # d_mu = -0.25 * 1 + 0.25 * (0 - 0.2) / 10 = -0.255
    # d_sigma = 0.5 * (-0.25 * 2 + 0.5 * (1 - 0.25) / 10) = -0.23125
    d_mu, d_sigma = mesu_step(t(0.2), t(0.5), t(1.0), t(2.0), n=10, mu_prior=0.0,
                              sigma_prior=1.0)
    assert d_mu.item() == pytest.approx(-0.255, abs=1e-15)
    assert d_sigma.item() == pytest.approx(-0.23125, abs=1e-15)
    # learning-rate factors multiply each increment; a prior mean of 1 pulls mu up
    d_mu, d_sigma = mesu_step(t(0.2), t(0.5), t(1.0), t(2.0), n=10, mu_prior=1.0,
                              sigma_prior=1.0, lr_mu=2.0, lr_sigma=0.5)
    assert d_mu.item() == pytest.approx(2 * (-0.25 + 0.25 * 0.8 / 10))
    assert d_sigma.item() == pytest.approx(0.5 * -0.23125)


def test_mesu_limits():
    mu, sigma, g_mu, g_sigma = t(0.3, -1.0), t(0.1, 0.7), t(0.5, -2.0), t(1.5, 0.25)
    # N -> infinity: Bayesian gradient descent (Zeno et al.): -sigma^2 g and -sigma^2 g / 2
    d_mu, d_sigma = mesu_step(mu, sigma, g_mu, g_sigma, n=1e300, mu_prior=0.0, sigma_prior=1.0)
    assert torch.allclose(d_mu, -sigma**2 * g_mu, rtol=0, atol=1e-15)
    assert torch.allclose(d_sigma, -0.5 * sigma**2 * g_sigma, rtol=0, atol=1e-15)
    # without data, mean and width relax toward the prior with a time constant of ~N steps
    mu, sigma = t(1.0), t(0.2)
    for _ in range(20_000):
        d_mu, d_sigma = mesu_step(mu, sigma, t(0.0), t(0.0), n=100, mu_prior=0.0,
                                  sigma_prior=0.5)
        mu, sigma = mu + d_mu, sigma + d_sigma
    assert sigma.item() == pytest.approx(0.5, abs=1e-3) and abs(mu.item()) < 1e-3
    # the prior is the fixed point: no data, no change
    d_mu, d_sigma = mesu_step(t(0.0), t(0.5), t(0.0), t(0.0), n=7, mu_prior=0.0,
                              sigma_prior=0.5)
    assert d_mu.item() == 0 and d_sigma.item() == 0
    # clamp_grad c bounds a data step to c * sigma (gradients clipped to +-c/sigma)
    d_mu, _ = mesu_step(t(0.0), t(0.5), t(1e6), t(0.0), n=1e300, mu_prior=0.0,
                        sigma_prior=1.0, clamp_grad=0.1)
    assert d_mu.item() == pytest.approx(-0.25 * 0.1 / 0.5)


def test_mesu_optimizer_applies_the_step_to_each_layer():
    torch.manual_seed(0)
    layer = GaussianLinear(4, 3)
    layer.init_(torch.Generator().manual_seed(1))
    layer.generator = torch.Generator().manual_seed(2)
    opt = MESU([(layer.mu, layer.sigma)], n=50, sigma_prior=0.3)
    layer(torch.randn(8, 4)).pow(2).sum().backward()
    mu, sigma = layer.mu.detach().clone(), layer.sigma.detach().clone()
    want = mesu_step(mu, sigma, layer.mu.grad, layer.sigma.grad, n=50, mu_prior=0.0,
                     sigma_prior=0.3)
    opt.step()
    assert torch.equal(layer.mu.detach(), mu + want[0])
    assert torch.equal(layer.sigma.detach(), sigma + want[1])
    with pytest.raises(ValueError, match="N=0"):
        MESU([(layer.mu, layer.sigma)], n=0)


def _bimu_by_hand(lam: float, grad: float, n: float, lr: float, lr_max: float, ell: float,
                  kappa: float) -> float:
    th = math.tanh(lam)
    s = kappa * (1 - th * th)
    g = ell * grad
    return -(lr * g + lam * s / n) / (s + 2 * g * th + 2 * abs(g) + 1 / lr_max)


def test_bimu_one_step_by_hand():
    # lam 0.5, dL/dlam 0.1, N 10, lr 1, lr_max 0.1, likelihood 2, KL 1:
    # t = tanh 0.5 = 0.4621172, s = 0.7864477, g = 0.2
    # -(0.2 + 0.5 * 0.7864477 / 10) / (0.7864477 + 2 * 0.2 * 0.4621172 + 0.4 + 10)
    expected = -(0.2 + 0.5 * 0.7864477 / 10) / (0.7864477 + 0.4 * 0.4621172 + 0.4 + 10)
    got = bimu_step(t(0.5), t(0.1), n=10, lr=1.0, lr_max=0.1, likelihood=2.0, kl=1.0)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    for lam, grad in ((-1.3, 0.02), (2.0, -0.5), (0.0, 1.0)):
        got = bimu_step(t(lam), t(grad), n=700, lr=4.9, lr_max=0.0023, likelihood=161.3,
                        kl=3.76)
        assert got.item() == pytest.approx(_bimu_by_hand(lam, grad, 700, 4.9, 0.0023, 161.3,
                                                         3.76), rel=1e-12)


def test_bimu_limits():
    # the forgetting term is (kappa/N) d/dlam KL(Bern(lam) || Bern(1/2)), KL = lam tanh lam -
    # log cosh lam + const: with no data and no step cap it pulls lam toward 0 at that rate
    def kl(lam: float) -> float:
        return lam * math.tanh(lam) - math.log(math.cosh(lam))

    lam, kappa, n, h = 0.8, 2.0, 50.0, 1e-6
    dkl = (kl(lam + h) - kl(lam - h)) / (2 * h)
    s = kappa * (1 - math.tanh(lam) ** 2)
    no_data = bimu_step(t(lam), t(0.0), n=n, lr=1.0, lr_max=1e300, likelihood=1.0, kl=kappa)
    assert no_data.item() == pytest.approx(-(kappa / n) * dkl / s, rel=1e-6)
    # the step is bounded however large the gradient: toward -lr / (2 (1 + tanh lam)) for a
    # gradient pushing lam down from a positive value, so a confident weight cannot saturate
    huge = bimu_step(t(1.0), t(1e9), n=n, lr=1.0, lr_max=1e300, likelihood=1.0, kl=kappa)
    assert huge.item() == pytest.approx(-1 / (2 * (1 + math.tanh(1.0))), rel=1e-6)
    # and it is harder to push a confident weight against its sign than along it
    against = bimu_step(t(2.0), t(0.5), n=n, lr=1.0, lr_max=1.0, likelihood=1.0, kl=kappa)
    along = bimu_step(t(2.0), t(-0.5), n=n, lr=1.0, lr_max=1.0, likelihood=1.0, kl=kappa)
    assert abs(against.item()) < abs(along.item())
    # as published: a step whose gradients are all zero changes nothing (no forgetting either)
    p = torch.nn.Parameter(t(0.7, -0.2))
    p.grad = torch.zeros_like(p)
    BiMU([p], n=5, lr=1.0, lr_max=1.0).step()
    assert torch.equal(p.detach(), t(0.7, -0.2))


def test_gaussian_and_bernoulli_layers_sample_their_distributions():
    x = torch.ones(1, 2)
    g = GaussianLinear(2, 1)
    with torch.no_grad():
        g.mu.copy_(torch.tensor([[0.5, -0.2]]))
        g.sigma.copy_(torch.tensor([[0.3, 0.4]]))
    g.generator = torch.Generator().manual_seed(0)
    out = torch.cat([g(x) for _ in range(20_000)])
    # x = (1, 1): mean 0.3, sd sqrt(0.09 + 0.16) = 0.5; the sample mean's sd is 0.5/141 = 0.0035
    assert out.mean().item() == pytest.approx(0.3, abs=0.015)
    assert out.std().item() == pytest.approx(0.5, abs=0.015)
    b = BernoulliLinear(1, 1).eval()
    with torch.no_grad():
        b.lam.fill_(0.4)  # P(+1) = sigmoid(0.8) = 0.6900
    b.generator = torch.Generator().manual_seed(0)
    w = torch.cat([b(torch.ones(1, 1)) for _ in range(20_000)])
    assert set(w.flatten().tolist()) == {-1.0, 1.0}
    assert (w > 0).float().mean().item() == pytest.approx(0.6900, abs=0.015)  # 4.6 sd
    b.train()  # relaxed: tanh((lam + logit(u)/2) / tau) in (-1, 1), mean below tanh's bound
    r = torch.cat([b(torch.ones(1, 1)) for _ in range(2000)])
    assert r.abs().max().item() < 1 and 0 < r.mean().item() < 0.69


def test_sampled_net_averages_log_softmax_over_its_samples():
    net = GaussianMLP(3, (4,), 2, train_samples=3, test_samples=5)
    net.init_(torch.Generator().manual_seed(0))
    net.seed_noise(7)
    x = torch.randn(6, 3)
    out = net(x)  # training: 3 samples
    net.seed_noise(7)
    draws = net._draw(x, 3)
    assert draws.shape == (3, 6, 2) and torch.allclose(out, draws.mean(0))
    net.eval()
    assert net.sample_probs(x).shape == (5, 6, 2)
    assert torch.allclose(net.sample_probs(x).sum(-1), torch.ones(5, 6))


def test_uncertainty_scores_by_hand():
    # two samples that disagree completely: the mean is (1/2, 1/2): 1 bit of predictive
    # entropy, all of it epistemic; half of the samples agree with the mean's argmax (class 0)
    probs = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    u = uncertainty(probs)
    assert u["predictive_entropy"].item() == pytest.approx(1.0)
    assert u["aleatoric"].item() == pytest.approx(0.0, abs=1e-6)
    assert u["epistemic"].item() == pytest.approx(1.0)
    assert u["variation_ratio"].item() == pytest.approx(0.5)
    # two samples that agree on (1/2, 1/2): 1 bit, all aleatoric
    u = uncertainty(torch.full((2, 1, 2), 0.5))
    assert u["aleatoric"].item() == pytest.approx(1.0) and u["epistemic"].item() == 0


def test_auroc_by_hand():
    # "out" scores 0.3 and 0.05 against "in" 0.1 and 0.2: 2 of 4 pairs ranked right -> 0.5
    assert auroc(t(0.1, 0.2), t(0.3, 0.05)) == pytest.approx(0.5)
    assert auroc(t(0.1, 0.2), t(0.3, 0.4)) == 1.0
    # 0.15 > 0.1, 0.15 < 0.2, 0.2 > 0.1, 0.2 = 0.2 (a tie counts one half): 2.5 of 4
    assert auroc(t(0.1, 0.2), t(0.15, 0.2)) == pytest.approx(2.5 / 4)
    with pytest.raises(ValueError, match="not finite"):
        auroc(t(0.1), t(float("nan")))


@pytest.mark.parametrize("strategy,model", [("mesu", "gaussian-mlp"), ("bimu", "bayes-bnn")])
def test_strategies_learn_a_short_stream_and_report_ood(strategy, model, data_root, tmp_path):
    from metabnn.config import RunConfig, from_dict
    from metabnn.runner import run

    config = from_dict(RunConfig, {
        "strategy": strategy, "params": {"N": 200.0, "train_samples": 2, "test_samples": 4},
        "stream": {"name": "pmnist", "tasks": 2, "scenario": "domain", "train_per_task": 2000,
                   "test_per_task": 300, "ood": "fmnist"},
        "model": {"name": model, "hidden": [64]},
        "train": {"epochs": 2, "eval_every": "experience"}})
    res = run(config, data_root=data_root, out_dir=tmp_path, progress=False, log=lambda s: None,
              record=False)
    R = res["accuracy_matrix"]
    assert len(res["curves"]) == 2  # tested at the end of each experience only
    assert min(R[0][0], R[1][1]) > 0.6  # learns each task (chance: 0.1)
    assert res["metrics"]["learning_accuracy"] == pytest.approx((R[0][0] + R[1][1]) / 2)
    ood = res["ood"]
    assert ood["dataset"] == "fmnist" and ood["score"] == "epistemic" and len(ood["auroc"]) == 2
    assert ood["final"]["n_in"] == ood["final"]["n_out"] == 300
    assert 0.5 < res["metrics"]["ood_auroc"] == ood["auroc"][-1] <= 1
    assert res["strategy"]["hyperparameters"]["N"] == 200.0
    # the rule has no Adam: optimizer settings are not part of the experiment
    from metabnn.config import OptimConfig, to_dict

    assert res["config"]["optim"] == to_dict(OptimConfig(meta=0.0))
