"""Cell models: published anchors, closed forms against mechanism-level Monte Carlo, presets.

Statistical tests draw 2^20 writes from fixed seeds and ask that the model's BER lie in the
Wilson interval at z = 4 of the measured count (a false alarm has probability ~6e-5 per test,
and fixed seeds make each outcome reproducible).
"""

from __future__ import annotations

import math
import zlib

import pytest
import torch

from metabnn.config import ConfigError
from metabnn.hardware import HARDWARE, RRAM1T1R, RRAM2T2R, STTMRAM, TableCell
from metabnn.hardware.array import SynapticArray
from metabnn.hardware.cells import WriteSpec
from metabnn.hardware.stats import wilson_interval

N = 2**20


def _in_wilson(k: int, n: int, p: float) -> bool:
    lo, hi = wilson_interval(k, n, z=4.0)
    return lo <= p <= hi


PRESETS = [(name, c) for name in HARDWARE.names() for c in HARDWARE.get(name)().conditions]


@pytest.mark.parametrize("name, condition", PRESETS)
def test_measured_ber_of_programmed_cells_matches_preset(name, condition):
    cell = HARDWARE.get(name)()
    spec = cell.spec(condition)
    gen = torch.Generator().manual_seed(zlib.crc32(f"{name}/{condition}".encode()))
    w = torch.rand(N, generator=gen) - 0.5  # 2^20 cells, random signs
    array = SynapticArray(w, spec, generator=gen)
    errors = int((array.stored != torch.where(torch.signbit(w), -1.0, 1.0)).sum())
    assert array.ledger.total("writes") == N
    assert array.ledger.total("write_errors") == errors
    assert _in_wilson(errors, N, spec.ber), (errors / N, spec.ber)


# Energies per write spanning each device's range, so that the Monte Carlo sees many errors.
MC_POINTS = [
    (RRAM1T1R(), e) for e in (0.5, 1.0, 3.0, 10.0, 30.0)
] + [
    (RRAM2T2R(), e) for e in (0.5, 1.0, 2.0, 6.0, 20.0)
] + [
    (STTMRAM(), e) for e in (0.35, 0.4, 0.5, 0.548, 0.6)  # precessional regime
]


@pytest.mark.parametrize("cell, e_write_pj", MC_POINTS,
                         ids=[f"{type(c).__name__}-{e}pJ" for c, e in MC_POINTS])
def test_mechanism_monte_carlo_agrees_with_closed_form(cell, e_write_pj):
    gen = torch.Generator().manual_seed(int(1000 * e_write_pj))
    errors = int(cell.sample_errors(N, e_write_pj, gen).sum())
    assert _in_wilson(errors, N, cell.ber_at_energy(e_write_pj)), (
        errors / N, cell.ber_at_energy(e_write_pj))


@pytest.mark.parametrize("i_ua, t_ns", [(95.0, 46.0), (90.0, 900.0), (150.0, 5.0), (250.0, 2.0)])
def test_mram_switching_monte_carlo_in_both_regimes(i_ua, t_ns):
    cell = STTMRAM()
    gen = torch.Generator().manual_seed(int(i_ua))
    errors = int(cell.sample_switching(N, i_ua, t_ns, gen).sum())
    p = cell.wer(i_ua, t_ns)
    assert 1e-4 < p < 0.9  # each point exercises a measurable error rate
    assert _in_wilson(errors, N, p), (errors / N, p)


def test_rram_published_anchors():
    one = RRAM1T1R()
    # Hirtzlin et al. 1904.03652: 4e-2 at the weak condition, 1e-4 at 30x its energy.
    assert one.ber_of("weak") == pytest.approx(4e-2, rel=1e-9)
    assert one.ber_at_energy(30 * one.energy_of("weak")) == pytest.approx(1e-4, rel=1e-9)
    assert one.ber_of("strong") == pytest.approx(1e-4, rel=1e-9)
    assert one.energy_at_ber(1e-4) == pytest.approx(30 * one.energy_of("weak"), rel=1e-9)


@pytest.mark.parametrize("e_device_pj", [0.3, 1.0, 3.0, 10.0, 30.0, 100.0])
def test_2t2r_strictly_below_1t1r_for_the_same_devices(e_device_pj):
    one, two = RRAM1T1R(), RRAM2T2R()
    # a 2T2R bit programs two devices: same device energy = twice the energy per bit
    assert two.ber_at_energy(2 * e_device_pj) < one.ber_at_energy(e_device_pj)


def test_rram_closed_forms_by_hand():
    dev = RRAM1T1R().device
    w = dev.window_ln(dev.e_device_weak_pj)
    z = w / dev.sigma_ln
    assert RRAM1T1R().ber_of("weak") == pytest.approx(0.5 * math.erfc(z / 2 / math.sqrt(2)))
    assert RRAM2T2R().ber_of("weak") == pytest.approx(
        0.5 * math.erfc(z / math.sqrt(2) / math.sqrt(2)))


def test_mram_weak_preset_and_energy_v_i_t():
    cell = STTMRAM()
    assert cell.ber_of("weak") == pytest.approx(1e-3, rel=1e-9)  # arXiv 1908.04085
    i = cell.current_of("weak")
    assert cell.energy_of("weak") == pytest.approx(cell.v_write_v * i * cell.t_pulse_ns * 1e-3)
    assert cell.ber_of("weak") > cell.ber_of("nominal") > cell.ber_of("strong")
    assert cell.energy_of("weak") < cell.energy_of("nominal") < cell.energy_of("strong")
    # longer pulses or more current: fewer errors
    assert cell.wer(200, 10) < cell.wer(200, 5) and cell.wer(250, 5) < cell.wer(200, 5)


def test_table_cell_interpolates_log_log_and_loads_csv(tmp_path):
    cell = TableCell((("a", 1e-2, 1.0), ("b", 1e-4, 100.0)))
    assert cell.ber_of("a") == 1e-2
    assert cell.ber_at_energy(10.0) == pytest.approx(1e-3)  # midpoint in log-log
    assert cell.energy_at_ber(1e-3) == pytest.approx(10.0)
    assert cell.ber_at_energy(0.1) == 1e-2 and cell.ber_at_energy(1e3) == 1e-4  # clamped
    path = tmp_path / "cal.csv"
    path.write_text("condition,ber,e_write_pj\nweak,0.02,2\nstrong,0.0002,40\n")
    loaded = TableCell.from_csv(path)
    assert loaded.conditions == ("weak", "strong") and loaded.ber_of("strong") == 2e-4
    with pytest.raises(ConfigError):
        TableCell((("a", 1e-4, 1.0), ("b", 1e-2, 100.0)))  # BER rising with energy


def test_spec_resolution_and_errors():
    cell = RRAM2T2R()
    assert cell.spec("weak") == WriteSpec("weak", cell.ber_of("weak"), cell.energy_of("weak"))
    forced = cell.spec(ber=1e-3)
    assert forced.ber == 1e-3 and cell.ber_at_energy(forced.e_write_pj) == pytest.approx(1e-3)
    by_energy = cell.spec(prog_energy_pj=5.0)
    assert by_energy.e_write_pj == 5.0 and by_energy.ber == cell.ber_at_energy(5.0)
    with pytest.raises(ConfigError, match="hardware.condition='medium' is invalid"):
        cell.spec("medium")
    with pytest.raises(ConfigError, match="exclusive"):
        cell.spec(ber=1e-3, prog_energy_pj=1.0)


def _undocumented(obj, prefix=""):
    import dataclasses

    missing = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            missing += _undocumented(value, f"{prefix}{f.name}.")
        elif "source" not in f.metadata:
            missing.append(prefix + f.name)
    return missing


@pytest.mark.parametrize("name", HARDWARE.names())
def test_every_default_of_every_cell_names_its_source(name):
    assert _undocumented(HARDWARE.get(name)()) == []
