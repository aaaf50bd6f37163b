"""Ternary weights on a 2T2R pair read by a precharge sense amplifier (PCSA).

Encoding on the pair (Laborieux et al., arXiv 2005.01973): :math:`+1 = (LRS, HRS)`,
:math:`-1 = (HRS, LRS)`, :math:`0 = (HRS, HRS)`. A PCSA supplied near threshold resolves a
large resistance difference quickly and leaves an (HRS, HRS) pair undecided, which reads as 0.
The sense is modelled by a row-stochastic 3x3 confusion matrix
:math:`C_{ij} = P(\\text{read } j \\mid \\text{written } i)` over the levels
:math:`(-1, 0, +1)`, drawn once per write (the outcome is set by the programmed devices and
persists until the next write).

Training uses the ternary quantizer of Li et al. ("Ternary weight networks", 2016) on the
hidden weight with a fixed threshold :math:`\\delta`:
:math:`t(W_h) = \\operatorname{sign}(W_h)\\,1_{|W_h| > \\delta}`, identity straight-through
gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["PCSASense", "ternarize", "sample_confusion", "twn_threshold"]


def ternarize(w: torch.Tensor, threshold: float) -> torch.Tensor:
    """:math:`\\operatorname{sign}(w) 1_{|w| > \\delta}` as int8 in {-1, 0, +1}."""
    return (torch.sign(w) * (w.abs() > threshold)).to(torch.int8)


def twn_threshold(w: torch.Tensor) -> float:
    """:math:`\\delta = 0.7\\,\\mathrm{mean}|W|` (Li et al. 2016), fixed at attach time."""
    return 0.7 * float(w.detach().abs().mean())


@dataclass(frozen=True)
class PCSASense:
    """Confusion of a near-threshold PCSA; rows: written (-1, 0, +1), columns: read.

    ``from_ber`` builds the default: a +-1 write reads as its opposite with the cell's BER
    (the pair comparison of :mod:`metabnn.hardware.rram`) and as 0 with ``p_pm_to_zero``; a 0 reads
    as +-1 with ``p_zero_to_pm`` each.
    """

    confusion: tuple[tuple[float, float, float], ...] = field(
        default=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
        metadata={"source": "error-free sensing; use from_ber for a device"},
    )

    def __post_init__(self) -> None:
        c = torch.tensor(self.confusion, dtype=torch.float64)
        ok = c.shape == (3, 3) and bool((c >= 0).all()) and torch.allclose(
            c.sum(1), torch.ones(3, dtype=torch.float64))
        if not ok:
            raise ValueError("PCSA confusion must be a 3x3 row-stochastic matrix")

    @classmethod
    def from_ber(
        cls, ber: float, p_pm_to_zero: float = 5e-3, p_zero_to_pm: float = 1e-2
    ) -> PCSASense:
        """Default near-threshold sense (``p_pm_to_zero``, ``p_zero_to_pm``: placeholder:
        calibrate against arXiv 2005.01973)."""
        keep = 1.0 - ber - p_pm_to_zero
        return cls((
            (keep, p_pm_to_zero, ber),
            (p_zero_to_pm, 1.0 - 2 * p_zero_to_pm, p_zero_to_pm),
            (ber, p_pm_to_zero, keep),
        ))

    def matrix(self) -> torch.Tensor:
        return torch.tensor(self.confusion, dtype=torch.float64)


def sample_confusion(
    values: torch.Tensor, confusion: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Read-back levels of cells written with ``values`` (int8 in {-1, 0, +1}).

    Inverse-CDF sampling of row ``values + 1`` of ``confusion`` with one uniform per cell.
    """
    cum = confusion.to(torch.float64).cumsum(1)  # (3, 3)
    rows = cum[(values.long() + 1).cpu()]  # (k, 3)
    u = torch.rand(values.shape, generator=generator, dtype=torch.float64)  # (k,)
    level = (u >= rows[:, 0]).to(torch.int8) + (u >= rows[:, 1]).to(torch.int8) - 1
    return level.to(values.device)
