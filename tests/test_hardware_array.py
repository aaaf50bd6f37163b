"""Synaptic arrays: ideal = software, write-on-flip, where errors live, persistence, ternary."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from metabnn.config import HardwareConfig
from metabnn.hardware import attach
from metabnn.hardware.array import SynapticArray
from metabnn.hardware.cells import WriteSpec
from metabnn.hardware.stats import wilson_interval
from metabnn.hardware.ternary import PCSASense
from metabnn.models import BinaryMLP, init_weights_
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups
from metabnn.quantizers import binarize


def _model(seed: int = 0, hidden=(64, 32)) -> nn.Module:
    return init_weights_(BinaryMLP(784, hidden, 10), 0.05, torch.Generator().manual_seed(seed))


def _sign(w: torch.Tensor) -> torch.Tensor:
    return binarize(w)


def test_ideal_backend_is_bit_identical_to_software_through_training():
    soft, hard = _model(), _model()
    attach(hard, HardwareConfig(name="ideal"), seed=0)
    opts = [MetaplasticAdam(metaplastic_param_groups(m, 1.35)) for m in (soft, hard)]
    gen = torch.Generator().manual_seed(1)
    for _ in range(8):
        x, y = torch.rand(50, 784, generator=gen), torch.randint(0, 10, (50,), generator=gen)
        outs = []
        for model, opt in zip((soft, hard), opts):
            opt.zero_grad()
            out = model(x)
            nn.functional.cross_entropy(out, y).backward()
            opt.step()
            outs.append(out)
        assert torch.equal(outs[0], outs[1])
        for p, q in zip(soft.parameters(), hard.parameters()):
            assert torch.equal(p, q)


def _array(n: int = 4096, ber: float = 0.1, seed: int = 0, **kw):
    gen = torch.Generator().manual_seed(seed)
    w = torch.rand(n, generator=gen) - 0.5
    return SynapticArray(w, WriteSpec("test", ber, 1.0), generator=gen, **kw), w


def test_writes_only_on_flips_and_errors_only_in_written_cells():
    array, w = _array(n=2**16, ber=0.2)
    before = array.stored.clone()
    writes0 = array.ledger.total("writes")
    flip = torch.zeros_like(w, dtype=torch.bool)
    flip[::7] = True  # flip the sign of every 7th hidden weight
    w2 = torch.where(flip, -w, w * 1.5)  # the others move but keep their sign
    assert array.sync(w2) == int(flip.sum())
    assert array.ledger.total("writes") - writes0 == int(flip.sum())
    assert array.ledger.total("flips") == int(flip.sum())
    changed = array.stored != before
    assert not changed[~flip].any()  # untouched cells keep their value (and their errors)
    assert torch.equal(array.intended.float(), _sign(w2))
    # among written cells, the error rate is the BER (Wilson z = 4)
    wrong = int((array.stored[flip] != _sign(w2)[flip]).sum())
    lo, hi = wilson_interval(wrong, int(flip.sum()))
    assert lo <= 0.2 <= hi
    assert torch.equal(array.write_count, 1 + flip.int())


def test_errors_persist_across_forward_passes_until_rewritten():
    array, w = _array(ber=0.3)
    outs = [array(w) for _ in range(3)]
    assert all(torch.equal(outs[0], o) for o in outs)
    assert (outs[0] != _sign(w)).any()  # there are errors, and they stay put
    assert array.ledger.total("writes") == w.numel()  # reads write nothing


def test_state_dict_round_trip_keeps_stored_errors(tmp_path):
    model = _model()
    attach(model, HardwareConfig(name="rram-1t1r", condition="weak"), seed=3)
    x = torch.rand(20, 784, generator=torch.Generator().manual_seed(0))
    model.eval()
    ref = model(x)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    other = _model(seed=9)  # different hidden weights, different error draws
    attach(other, HardwareConfig(name="rram-1t1r", condition="weak"), seed=4)
    other.load_state_dict(torch.load(buf))
    other.eval()
    assert torch.equal(other(x), ref)
    for a, b in zip(model.layers, other.layers):
        assert torch.equal(a.kernel_quantizer.stored, b.kernel_quantizer.stored)
        assert (a.kernel_quantizer.stored != _sign(a.weight)).any()  # errors were carried over
    assert other.layers[0].kernel_quantizer.ledger.total("flips") == 0  # loading flips nothing


def test_straight_through_gradient_reaches_hidden_weight():
    array, w = _array(ber=0.3)
    w.requires_grad_(True)
    g = torch.randn(w.shape, generator=torch.Generator().manual_seed(5))
    (array(w) * g).sum().backward()
    assert torch.equal(w.grad, g)


def test_write_verify_leaves_ber_to_the_power_k_plus_one():
    n, p, k = 2**18, 0.2, 2
    array, w = _array(n=n, ber=p, verify_retries=k)
    residual = int((array.stored != _sign(w)).sum())
    lo, hi = wilson_interval(residual, n)
    assert lo <= p ** (k + 1) <= hi
    led = array.ledger
    # every write attempt but the last round's is verified: reads = attempts - last-round writes
    assert led.total("writes") >= n and led.total("residual_errors") == residual
    assert led.total("verify_reads") <= led.total("writes")
    first_round = n
    second_round = led.total("verify_reads") - first_round  # failed after the first write
    lo, hi = wilson_interval(second_round, n)
    assert lo <= p <= hi


def test_transient_read_errors_are_redrawn_and_never_stored():
    array, w = _array(ber=0.0, read_ber=0.1)
    a, b = array(w), array(w)
    assert not torch.equal(a, b)
    assert torch.equal(array.stored, _sign(w))
    lo, hi = wilson_interval(int((a != _sign(w)).sum()), w.numel())
    assert lo <= 0.1 <= hi


def test_error_aware_flips_only_in_training():
    array, w = _array(n=2**16, ber=0.0, error_aware=0.05)
    array.train()
    flipped = int((array(w) != _sign(w)).sum())
    lo, hi = wilson_interval(flipped, w.numel())
    assert lo <= 0.05 <= hi
    array.eval()
    assert torch.equal(array(w), _sign(w))


def test_retention_event_flips_stored_values():
    array, w = _array(n=2**16, ber=0.0)
    array.age(0.01)
    k = array.ledger.total("retention_errors")
    assert k == int((array.stored != _sign(w)).sum()) and 0 < k
    lo, hi = wilson_interval(k, w.numel())
    assert lo <= 0.01 <= hi


def test_ternary_confusion_measured_over_many_writes_matches_configured():
    sense = PCSASense(((0.90, 0.07, 0.03), (0.05, 0.85, 0.10), (0.02, 0.08, 0.90)))
    gen = torch.Generator().manual_seed(0)
    n = 3 * 2**17
    w = torch.tensor([-1.0, 0.0, 1.0]).repeat(n // 3)  # each level 2^17 times
    array = SynapticArray(w, WriteSpec("t", 0.0, 1.0), generator=gen, ternary_threshold=0.5,
                          confusion=sense.matrix())
    for i, level in enumerate((-1, 0, 1)):
        read = array.stored[array.intended == level]
        for j, out in enumerate((-1, 0, 1)):
            lo, hi = wilson_interval(int((read == out).sum()), read.numel())
            assert lo <= sense.confusion[i][j] <= hi, (level, out)


def test_ternary_backend_trains_with_zero_weights():
    model = _model()
    attach(model, HardwareConfig(name="rram-2t2r", condition="weak", ternary=True), seed=0)
    arr = model.layers[0].kernel_quantizer
    assert set(arr.intended.unique().tolist()) == {-1, 0, 1}
    opt = MetaplasticAdam(metaplastic_param_groups(model, 1.35))
    x, y = torch.rand(50, 784), torch.randint(0, 10, (50,))
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    before = arr.ledger.total("writes")
    flips = arr.sync(model.layers[0].weight)
    assert arr.ledger.total("writes") - before == flips


@pytest.mark.parametrize("condition", ["weak", "nominal"])
def test_deepcopy_of_attached_model_keeps_arrays(condition):
    model = _model()
    attach(model, HardwareConfig(name="stt-mram", condition=condition), seed=0)
    twin = copy.deepcopy(model)
    x = torch.rand(10, 784)
    model.eval()
    twin.eval()
    assert torch.equal(model(x), twin(x))
