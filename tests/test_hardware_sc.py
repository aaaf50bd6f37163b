"""Stochastic-computing inputs: unbiased bit streams, variance ~ 1/L, sources, use in a model."""

from __future__ import annotations

import math

import pytest
import torch

from metabnn.config import HardwareConfig
from metabnn.hardware import attach
from metabnn.hardware.stochastic import (
    IdealSource,
    LFSRSource,
    SMTJSource,
    StochasticInput,
    lfsr_sequence,
)
from metabnn.models import BinaryMLP, init_weights_

X = torch.tensor([[0.0, 0.1, 0.25, 0.5, 0.8, 1.0]])


@pytest.mark.parametrize("length", [4, 16, 64])
def test_ideal_streams_unbiased_with_variance_one_over_l(length):
    gen = torch.Generator().manual_seed(length)
    trials = 20000
    bits = IdealSource().stream(X.expand(trials, -1), length, gen)  # (trials, L, 6)
    frac = bits.float().mean(1)  # (trials, 6)
    x = X[0]
    # mean: within 4 standard errors of x
    se = torch.sqrt(x * (1 - x) / (length * trials))
    assert ((frac.mean(0) - x).abs() <= 4 * se + 1e-12).all()
    # variance of the stream average: x(1-x)/L, within 10 % (the sample variance of 20,000
    # draws has a relative standard error of sqrt(2/20000) = 1 %)
    var = frac.var(0)
    inner = (x > 0) & (x < 1)
    assert torch.allclose(var[inner] * length, (x * (1 - x))[inner], rtol=0.1)
    assert (var[~inner] == 0).all()


def test_lfsr_is_maximal_and_exact_over_a_period():
    seq = lfsr_sequence()
    assert seq.numel() == 2**16 - 1 and seq.unique().numel() == 2**16 - 1 and seq.min() == 1
    src = LFSRSource()
    gen = torch.Generator().manual_seed(0)
    bits = src.stream(X, 2**16 - 1, gen)  # one full period per pixel
    frac = bits.float().mean(1)[0]
    assert torch.allclose(frac, X[0], atol=1.0 / (2**16 - 1))


def test_smtj_bias_is_reduced_by_xor_whitening():
    x = torch.full((1, 256), 0.5)
    errors = {}
    for whitening in (False, True):
        src = SMTJSource(bias_sigma=0.1, n_bits=8, xor_whitening=whitening)
        gen = torch.Generator().manual_seed(0)
        frac = src.stream(x.expand(64, -1), 64, gen).float().mean((0, 1))  # (256,) per pixel
        errors[whitening] = (frac - 0.5).abs().mean().item()
    # biased junctions make biased streams; XOR of two junctions removes most of the bias
    assert errors[False] > 0.02
    assert errors[True] < errors[False] / 3


def test_smtj_without_bias_is_unbiased():
    src = SMTJSource(bias_sigma=0.0, n_bits=8)
    gen = torch.Generator().manual_seed(1)
    frac = src.stream(X.expand(4096, -1), 16, gen).float().mean((0, 1))
    # 8-bit comparator: P(bit) = ceil(256 x) / 256; 4 standard errors of 65,536 bits
    expected = torch.ceil(X[0] * 256) / 256
    assert ((frac - expected).abs() <= 4 * 0.5 / math.sqrt(4096 * 16) + 1e-12).all()


def test_stochastic_input_maps_to_plus_minus_one_average_and_counts_bits():
    from metabnn.hardware.energy import Ledger

    ledger = Ledger()
    q = StochasticInput(8, generator=torch.Generator().manual_seed(0), ledger=ledger, name="l0")
    out = q(X.expand(10, -1))
    assert out.shape == (10, 6) and out.min() >= -1 and out.max() <= 1
    assert (out[:, 0] == -1).all() and (out[:, -1] == 1).all()
    assert ((out + 1) * 4).round().eq((out + 1) * 4).all()  # multiples of 2/L
    assert ledger.total("random_bits") == 10 * 8 * 6


def test_sc_backend_runs_first_layer_on_bit_streams_in_training_too():
    model = init_weights_(BinaryMLP(784, (32,), 10), 0.05, torch.Generator().manual_seed(0))
    backend = attach(model, HardwareConfig(name="ideal", sc_bits=4), seed=0)
    assert isinstance(model.layers[0].input_quantizer, StochasticInput)
    x = torch.rand(8, 784)
    model.train()
    a, b = model(x), model(x)
    assert not torch.equal(a, b)  # fresh bits in every pass, training included
    c = backend.ledger.counts()["train"]
    assert c["layers.0"]["random_bits"] == 2 * 8 * 4 * 784
    # the first layer's synapses are read once per frame; its inputs are now binary
    assert c["layers.0"]["synapse_reads"] == 2 * 8 * 784 * 32 * 4
    assert c["layers.0"]["popcount_bits"] == 2 * 8 * 784 * 32 * 4
