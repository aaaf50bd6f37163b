"""Spin-transfer-torque MRAM: write error rate of a pulse of current :math:`I` and width :math:`t`.

With :math:`i = I / I_{c0}` (critical current) and thermal stability :math:`\\Delta`:

* precessional regime (:math:`i > 1`): the free layer starts at a thermal angle
  :math:`\\theta_0` with :math:`\\theta_0^2 \\sim \\mathrm{Exp}(\\Delta)` (small-angle Boltzmann
  distribution) and grows as :math:`\\theta_0 e^{(i-1)t/\\tau_D}`; the write fails if it has not
  reached :math:`\\pi/2` at the end of the pulse (Sun 2000; Butler et al. 2012):

  .. math::  \\mathrm{WER} = 1 - \\exp\\!\\left(-\\frac{\\pi^2\\Delta}{4}\\,
             e^{-2(i-1)t/\\tau_D}\\right);

* thermally activated regime (:math:`i \\le 1`): switching is a Poisson event of rate
  :math:`\\tau_0^{-1} e^{-\\Delta(1-i)}` (Néel-Brown), so
  :math:`\\mathrm{WER} = \\exp(-(t/\\tau_0)\\,e^{-\\Delta(1-i)})`.

Energy per write :math:`E = V I t`. The presets are pulses of width ``t_pulse_ns`` whose current
gives the preset's WER; the ``weak`` preset gives :math:`10^{-3}`, the error rate that a BNN
tolerates with a halving of system energy (Hirtzlin et al., arXiv 1908.04085).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from metabnn.hardware.cells import CellModel
from metabnn.hardware.registry import HARDWARE

__all__ = ["STTMRAM"]


def _src(text: str) -> dict[str, str]:
    return {"source": text}


@HARDWARE.register("stt-mram", description="STT-MRAM, precessional / thermal switching")
@dataclass(frozen=True)
class STTMRAM(CellModel):
    """Perpendicular STT-MRAM cell written by a current pulse."""

    delta: float = field(default=60.0, metadata=_src("placeholder: calibrate (typical 40-80)"))
    ic0_ua: float = field(default=100.0, metadata=_src("placeholder: calibrate"))
    tau_d_ns: float = field(default=1.0, metadata=_src(
        "placeholder: calibrate (precession time constant)"))
    tau0_ns: float = field(default=1.0, metadata=_src("Néel-Brown attempt time, conventional 1 ns"))
    v_write_v: float = field(default=0.5, metadata=_src("placeholder: calibrate"))
    t_pulse_ns: float = field(default=5.0, metadata=_src("placeholder: calibrate"))
    wer_weak: float = field(default=1e-3, metadata=_src("Hirtzlin et al. arXiv 1908.04085"))
    wer_nominal: float = field(default=1e-6, metadata=_src("placeholder: calibrate"))
    wer_strong: float = field(default=1e-9, metadata=_src(
        "placeholder: memory-grade WER without ECC"))

    def wer(self, i_ua: float, t_ns: float) -> float:
        """Write error rate of a pulse of ``i_ua`` µA for ``t_ns`` ns (closed form)."""
        i = i_ua / self.ic0_ua
        if i > 1:
            return -math.expm1(-(math.pi**2 * self.delta / 4)
                               * math.exp(-2 * (i - 1) * t_ns / self.tau_d_ns))
        return math.exp(-(t_ns / self.tau0_ns) * math.exp(-self.delta * (1 - i)))

    def current_at_wer(self, wer: float, t_ns: float) -> float:
        """Inverse of :meth:`wer` in the precessional regime (µA)."""
        wer = min(max(wer, 1e-300), 1 - 1e-16)
        x = -math.log1p(-wer) / (math.pi**2 * self.delta / 4)  # exp(-2(i-1)t/tau)
        i = 1 - math.log(x) * self.tau_d_ns / (2 * t_ns)
        return max(i, 1.0) * self.ic0_ua

    def _energy_pj(self, i_ua: float) -> float:
        return self.v_write_v * i_ua * self.t_pulse_ns * 1e-3  # V * µA * ns = fJ

    def current_of(self, condition: str) -> float:
        target = {"weak": self.wer_weak, "nominal": self.wer_nominal,
                  "strong": self.wer_strong}[condition]
        return self.current_at_wer(target, self.t_pulse_ns)

    def energy_of(self, condition: str) -> float:
        return self._energy_pj(self.current_of(condition))

    def ber_at_energy(self, e_write_pj: float) -> float:
        i_ua = e_write_pj / (self.v_write_v * self.t_pulse_ns * 1e-3)
        return self.wer(i_ua, self.t_pulse_ns)

    def energy_at_ber(self, ber: float) -> float:
        return self._energy_pj(self.current_at_wer(ber, self.t_pulse_ns))

    def sample_switching(
        self, n: int, i_ua: float, t_ns: float, generator: torch.Generator
    ) -> torch.Tensor:
        """Monte Carlo of ``n`` writes: True where the free layer failed to switch."""
        i = i_ua / self.ic0_ua
        if i > 1:
            theta0_sq = torch.empty(n, dtype=torch.float64).exponential_(
                self.delta, generator=generator)  # (n,) initial angle^2, rate Delta
            theta_end_sq = theta0_sq * math.exp(2 * (i - 1) * t_ns / self.tau_d_ns)
            return theta_end_sq < (math.pi / 2) ** 2
        rate = math.exp(-self.delta * (1 - i)) / self.tau0_ns
        t_switch = torch.empty(n, dtype=torch.float64).exponential_(rate, generator=generator)
        return t_switch > t_ns

    def sample_errors(self, n: int, e_write_pj: float, generator: torch.Generator) -> torch.Tensor:
        i_ua = e_write_pj / (self.v_write_v * self.t_pulse_ns * 1e-3)
        return self.sample_switching(n, i_ua, self.t_pulse_ns, generator)
