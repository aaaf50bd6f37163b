"""HfO2 RRAM cells: 1T1R (one device vs a reference) and 2T2R (two complementary devices).

Device model. The low- and high-resistance states (LRS, HRS) are lognormal with the same width
:math:`\\sigma` in :math:`\\ln R`; the memory window :math:`w = \\ln(R_{HRS}/R_{LRS})` between
the medians grows with the programming energy :math:`E` per device:

.. math::  w(E) = 2\\sigma\\,\\bigl(k_{weak} + s\\,\\ln(E / E_{weak})\\bigr)^+ .

Reading. *1T1R* compares one device with a reference at the geometric mean of the medians;
*2T2R* stores a bit as (LRS, HRS) or (HRS, LRS) and its precharge sense amplifier (PCSA)
compares the two devices (Hirtzlin et al., arXiv 1908.04066):

.. math::
    p_{1T1R}(E) = \\Phi\\!\\left(-\\frac{w}{2\\sigma}\\right), \\qquad
    p_{2T2R}(E) = \\Phi\\!\\left(-\\frac{w}{\\sqrt 2\\,\\sigma}\\right)
    \\quad(\\ln R_a - \\ln R_b \\sim \\mathcal N(-w, 2\\sigma^2)),

so 2T2R is strictly below 1T1R for the same devices whenever :math:`w > 0`. The two anchors of
Hirtzlin et al. (arXiv 1904.03652), BER :math:`4\\times10^{-2}` at the weak condition and
:math:`10^{-4}` at 30x its energy, fix :math:`k_{weak} = \\Phi^{-1}(1 - 4\\times10^{-2})` and
:math:`s`; they are single-device (1T1R) error rates, so 1T1R passes through them exactly and
2T2R follows from the same devices. A 2T2R write programs both devices (:math:`2E` per bit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import torch

from metabnn.hardware.cells import CellModel
from metabnn.hardware.registry import HARDWARE

__all__ = ["HfO2Device", "RRAM1T1R", "RRAM2T2R", "phi_tail"]

_N = NormalDist()


def phi_tail(x: float) -> float:
    """:math:`\\Phi(-x)`, accurate in the far tail."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def _src(text: str) -> dict[str, str]:
    return {"source": text}


@dataclass(frozen=True)
class HfO2Device:
    """Lognormal HfO2 device whose memory window grows with the programming energy."""

    sigma_ln: float = field(default=0.35, metadata=_src("placeholder: calibrate "
                            "(width of ln R of each state; cancels out of every BER)"))
    e_device_weak_pj: float = field(default=1.0, metadata=_src("placeholder: calibrate "
                                    "(energy of one weak-condition device write)"))
    ber_weak: float = field(default=4e-2, metadata=_src("Hirtzlin et al. arXiv 1904.03652"))
    ber_strong: float = field(default=1e-4, metadata=_src("Hirtzlin et al. arXiv 1904.03652"))
    strong_energy_ratio: float = field(default=30.0, metadata=_src(
        "Hirtzlin et al. arXiv 1904.03652 (30x less energy at the weak condition)"))
    nominal_energy_ratio: float = field(default=10.0, metadata=_src(
        "placeholder: between the published anchors (1T1R BER ~1e-3)"))

    @property
    def k_weak(self) -> float:
        return _N.inv_cdf(1.0 - self.ber_weak)

    @property
    def slope(self) -> float:
        """:math:`s`: growth of :math:`w/2\\sigma` per e-fold of programming energy."""
        return (_N.inv_cdf(1.0 - self.ber_strong) - self.k_weak) / math.log(
            self.strong_energy_ratio)

    def device_energy(self, condition: str) -> float:
        ratio = {"weak": 1.0, "nominal": self.nominal_energy_ratio,
                 "strong": self.strong_energy_ratio}[condition]
        return self.e_device_weak_pj * ratio

    def window_ln(self, e_device_pj: float) -> float:
        """Memory window :math:`w(E)` in units of :math:`\\ln R`."""
        k = self.k_weak + self.slope * math.log(e_device_pj / self.e_device_weak_pj)
        return 2.0 * self.sigma_ln * max(k, 0.0)

    def energy_at_window(self, w: float) -> float:
        k = w / (2.0 * self.sigma_ln)
        return self.e_device_weak_pj * math.exp((k - self.k_weak) / self.slope)

    def draw_ln_r(
        self, bits: torch.Tensor, e_device_pj: float, generator: torch.Generator
    ) -> torch.Tensor:
        """:math:`\\ln(R/R_{ref})` of devices programmed to LRS (``bits``) or HRS (``~bits``)."""
        w = self.window_ln(e_device_pj)
        centre = torch.where(bits, -w / 2, w / 2)
        return centre + self.sigma_ln * torch.randn(bits.shape, generator=generator)


@dataclass(frozen=True)
class _RRAM(CellModel):
    device: HfO2Device = field(default_factory=HfO2Device)
    devices_per_bit = 1
    margin = 2.0  # w / (margin * sigma) is the z-score of an error

    def energy_of(self, condition: str) -> float:
        return self.devices_per_bit * self.device.device_energy(condition)

    def ber_at_energy(self, e_write_pj: float) -> float:
        w = self.device.window_ln(e_write_pj / self.devices_per_bit)
        return phi_tail(w / (self.margin * self.device.sigma_ln))

    def energy_at_ber(self, ber: float) -> float:
        ber = min(max(ber, 1e-300), 0.5)
        w = self.margin * self.device.sigma_ln * _N.inv_cdf(1.0 - ber)
        return self.devices_per_bit * self.device.energy_at_window(w)


@HARDWARE.register("rram-1t1r", description="HfO2 RRAM, one device read against a reference")
@dataclass(frozen=True)
class RRAM1T1R(_RRAM):
    """1T1R: a bit is one device (LRS = +1), read against :math:`R_{ref}` at the window's centre.

    Error when an LRS device lies above :math:`R_{ref}` or an HRS device below it.
    """

    def sample_errors(self, n: int, e_write_pj: float, generator: torch.Generator) -> torch.Tensor:
        bits = torch.rand(n, generator=generator) < 0.5  # True: +1 stored as LRS
        ln_r = self.device.draw_ln_r(bits, e_write_pj, generator)
        return torch.where(bits, ln_r > 0, ln_r < 0)


@HARDWARE.register("rram-2t2r", description="HfO2 RRAM, complementary device pair read by a PCSA")
@dataclass(frozen=True)
class RRAM2T2R(_RRAM):
    """2T2R: +1 = (LRS, HRS), -1 = (HRS, LRS); the PCSA reads the sign of :math:`R_b - R_a`."""

    devices_per_bit = 2
    margin = math.sqrt(2.0)

    def sample_errors(self, n: int, e_write_pj: float, generator: torch.Generator) -> torch.Tensor:
        e = e_write_pj / self.devices_per_bit
        lrs = self.device.draw_ln_r(torch.ones(n, dtype=torch.bool), e, generator)
        hrs = self.device.draw_ln_r(torch.zeros(n, dtype=torch.bool), e, generator)
        return lrs > hrs
