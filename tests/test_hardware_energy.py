"""Energy ledger: counts equal hand-computed counts for a Linear and a Conv layer; re-pricing."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from metabnn.config import HardwareConfig
from metabnn.hardware import TechnologyTable, UnitEnergy, attach
from metabnn.hardware.energy import PRICED
from metabnn.layers import BinaryConv2d, BinaryLinear
from metabnn.quantizers import SignQuantizer


class Tiny(nn.Module):
    """conv 2->4 channels 3x3 pad 1 on 5x5 real images, then a binary linear 100 -> 3."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = BinaryConv2d(2, 4, 3, padding=1, bias=False)
        self.fc = BinaryLinear(100, 3, bias=False, input_quantizer=SignQuantizer())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


@pytest.fixture
def tiny():
    torch.manual_seed(0)  # nn default init; the test does not depend on the values
    model = Tiny()
    backend = attach(model, HardwareConfig(name="rram-2t2r", condition="nominal"), seed=0)
    return model, backend


def test_counts_equal_hand_computed_counts(tiny):
    model, backend = tiny
    x = torch.rand(6, 2, 5, 5)
    model.train()
    model(x)
    model.eval()
    model(x[:2])
    c = backend.ledger.counts()
    # conv: per sample 4 out channels x 25 positions x (2 x 3 x 3) synapses = 1800 reads
    assert c["train"]["conv"] == {"synapse_reads": 6 * 1800, "multibit_macs": 6 * 1800,
                                  "threshold_comparisons": 6 * 4 * 25, "samples": 6}
    # linear on binary inputs: 100 x 3 XNOR reads and popcount bits, 3 comparisons per sample
    assert c["train"]["fc"] == {"synapse_reads": 6 * 300, "popcount_bits": 6 * 300,
                                "threshold_comparisons": 6 * 3, "samples": 6}
    assert c["evaluation"]["fc"]["synapse_reads"] == 2 * 300
    assert c["evaluation"]["conv"]["threshold_comparisons"] == 2 * 100
    # initial programming writes every cell once
    assert c["program"]["conv"]["writes"] == 72 and c["program"]["fc"]["writes"] == 300


def test_writes_equal_sign_flips_and_hidden_updates_counted(tiny):
    model, backend = tiny
    with torch.no_grad():
        model.conv.weight.view(-1)[:5].neg_()  # 5 sign flips
        model.fc.weight.mul_(2.0)  # no sign flips
    backend.after_update()
    c = backend.ledger.counts()["train"]
    assert c["conv"]["flips"] == 5 and c["conv"]["writes"] == 5
    assert "writes" not in c["fc"]
    assert c["conv"]["hidden_updates"] == 72 and c["fc"]["hidden_updates"] == 300
    row = backend.end_task(0)
    assert row["flips"] == 5 and row["writes"] == 5
    backend.after_update()  # nothing moved: nothing written
    assert backend.end_task(1)["writes"] == 0


def test_repricing_is_exact(tiny):
    model, backend = tiny
    model.train()
    model(torch.rand(4, 2, 5, 5))
    backend.after_update()
    counts = backend.ledger.counts()
    prices = {q: 0.5 + i for i, q in enumerate(PRICED)}
    table = TechnologyTable(**{q: UnitEnergy(p, "test") for q, p in prices.items()})
    energy = backend.ledger.energy(table)
    for phase, layers in counts.items():
        expected = {layer: {q: n * prices[q] for q, n in qs.items() if q in prices}
                    for layer, qs in layers.items()}
        assert energy[phase]["layers"] == expected
        assert energy[phase]["total_pj"] == sum(sum(v.values()) for v in expected.values())
    # the run's own table prices writes at the cell's energy per write
    run_energy = backend.ledger.energy(backend.table)
    assert run_energy["program"]["layers"]["conv"]["writes"] == 72 * backend.spec.e_write_pj
    cheaper = dataclasses.replace(table, synapse_reads=UnitEnergy(0.0, "free reads"))
    assert (backend.ledger.energy(cheaper)["train"]["total_pj"]
            == energy["train"]["total_pj"] - counts["train"]["conv"]["synapse_reads"] * prices[
                "synapse_reads"] - counts["train"]["fc"]["synapse_reads"] * prices["synapse_reads"])


def test_summary_is_json_ready_and_complete(tiny):
    import json

    model, backend = tiny
    model.train()
    model(torch.rand(4, 2, 5, 5))
    backend.end_task(0)
    s = json.loads(json.dumps(backend.summary(), allow_nan=False))
    for key in ("counts", "energy_pj", "energy_total_pj", "measured_ber", "tasks", "endurance",
                "technology", "ber_per_write", "e_write_pj"):
        assert key in s
    assert s["measured_ber"]["writes"] == 372
    # the interval is the Wilson score interval (z = 4) of the run's own counts, by hand
    k, n, z = s["measured_ber"]["write_errors"], 372, 4.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    assert s["measured_ber"]["ber_wilson_z4"] == pytest.approx(
        [max(0.0, centre - half), min(1.0, centre + half)], abs=1e-12)
    for entry in s["technology"].values():
        assert entry["source"]


def test_ledger_state_dict_round_trip(tiny):
    from metabnn.hardware import Ledger

    model, backend = tiny
    model.train()
    model(torch.rand(4, 2, 5, 5))
    backend.end_task(0)
    other = Ledger()
    other.load_state_dict(backend.ledger.state_dict())
    assert other.counts() == backend.ledger.counts() and other.tasks == backend.ledger.tasks
    assert other.energy(backend.table) == backend.ledger.energy(backend.table)


def test_wilson_interval_golden_values():
    """Hand-computed: k = 0, n = 100, z = 4: centre = 8 / 116, half = 8 / 116, so [0, 16/116];
    k = 50, n = 100, z = 2: centre 0.5, half = (2 / 1.04) * sqrt(0.0025 + 0.0001)."""
    from metabnn.hardware.stats import wilson_interval

    assert wilson_interval(0, 100) == pytest.approx((0.0, 16 / 116), abs=1e-12)
    assert wilson_interval(50, 100, z=2.0) == pytest.approx(
        (0.5 - 2 / 1.04 * 0.0026 ** 0.5, 0.5 + 2 / 1.04 * 0.0026 ** 0.5), abs=1e-12)
    assert wilson_interval(0, 0) == (0.0, 1.0)
