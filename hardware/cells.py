"""Memory cell models: what one write of a binary weight costs and how often it goes wrong.

A cell model maps a *programming condition* (a named preset, or an energy per write) to a
:class:`WriteSpec`: the probability :math:`p` that a written cell reads back the wrong value
(bit error rate, BER) and the energy of one write. Errors are drawn when a cell is written and
persist until it is written again (:mod:`metabnn.hardware.array`); a cell model is pure and
stateless.

This module holds the interface, the ``ideal`` cell and the ``table`` cell that interpolates a
user's measured (condition, BER, energy) rows, the way real users calibrate. Device physics
lives in :mod:`metabnn.hardware.rram` and :mod:`metabnn.hardware.mram`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from metabnn.config import ConfigError
from metabnn.hardware.registry import HARDWARE

__all__ = ["WriteSpec", "CellModel", "IdealCell", "TableCell", "CONDITIONS",
           "read_calibration", "check_calibration"]

#: The named programming conditions every physical cell offers.
CONDITIONS = ("weak", "nominal", "strong")


@dataclass(frozen=True)
class WriteSpec:
    """What one write does: error probability and energy, for one programming condition."""

    condition: str
    """preset name, ``"ber"`` when forced, ``"energy"`` when set by an energy per write"""
    ber: float
    """probability that a written cell reads back the opposite sign"""
    e_write_pj: float
    """energy of one bit write in pJ (both devices of a 2T2R pair)"""


class CellModel:
    """Interface of a cell model (subclasses are frozen dataclasses).

    Subclasses give ``conditions``, :meth:`energy_of` (pJ per bit write of a named condition),
    :meth:`ber_at_energy` and :meth:`energy_at_ber` (its inverse, for ``--ber``).
    """

    conditions: tuple[str, ...] = CONDITIONS

    def energy_of(self, condition: str) -> float:
        raise NotImplementedError

    def ber_at_energy(self, e_write_pj: float) -> float:
        raise NotImplementedError

    def energy_at_ber(self, ber: float) -> float:
        raise NotImplementedError

    def ber_of(self, condition: str) -> float:
        return self.ber_at_energy(self.energy_of(condition))

    def spec(
        self,
        condition: str = "nominal",
        *,
        ber: float | None = None,
        prog_energy_pj: float | None = None,
    ) -> WriteSpec:
        """Resolve a condition, a forced BER, or an energy per write into a :class:`WriteSpec`."""
        if ber is not None and prog_energy_pj is not None:
            raise ConfigError("hardware.ber and hardware.prog_energy_pj are exclusive: set one")
        if ber is not None:
            return WriteSpec("ber", float(ber), self.energy_at_ber(ber))
        if prog_energy_pj is not None:
            return WriteSpec("energy", self.ber_at_energy(prog_energy_pj), float(prog_energy_pj))
        if condition not in self.conditions:
            raise ConfigError(f"hardware.condition={condition!r} is invalid: "
                              f"allowed {', '.join(self.conditions)}")
        return WriteSpec(condition, self.ber_of(condition), self.energy_of(condition))

    def sample_errors(
        self, n: int, e_write_pj: float, generator: torch.Generator
    ) -> torch.Tensor:
        """Mechanism-level Monte Carlo: ``(n,)`` bool, True where a write of energy
        ``e_write_pj`` fails.

        The default draws Bernoulli(BER); physical cells override it with their mechanism
        (drawn resistances, drawn switching angles) so tests can check the closed form
        :meth:`ber_at_energy` against it.
        """
        return torch.rand(n, generator=generator) < self.ber_at_energy(e_write_pj)


@HARDWARE.register("ideal", description="error-free memory: outputs bit-identical to software")
@dataclass(frozen=True)
class IdealCell(CellModel):
    """An error-free memory: BER 0 at every condition, writes free (counted, priced at 0)."""

    e_write_pj: float = field(default=0.0, metadata={"source": "ideal: no device"})

    def energy_of(self, condition: str) -> float:
        return self.e_write_pj

    def ber_at_energy(self, e_write_pj: float) -> float:
        return 0.0

    def energy_at_ber(self, ber: float) -> float:
        return self.e_write_pj


def check_calibration(rows: Any, where: str) -> tuple[tuple[str, float, float], ...]:
    """``rows`` as ``((condition, ber, e_write_pj), ...)`` with 0 < ber <= 0.5 and energy > 0,
    distinct conditions, BER not increasing with energy; else a one-line ``ConfigError``
    starting with ``where``."""
    out = []
    for i, row in enumerate(rows or ()):
        if not isinstance(row, (list, tuple)) or len(row) != 3:
            raise ConfigError(f"{where}: row {i + 1} {row!r} is not (condition, ber, e_write_pj)")
        condition, ber, energy = row
        if not isinstance(condition, str) or not condition:
            raise ConfigError(f"{where}: row {i + 1}: condition {condition!r} is not a name")
        for name, value in (("ber", ber), ("e_write_pj", energy)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value)):
                raise ConfigError(f"{where}: row {i + 1}: {name}={value!r} is not a number")
        if not 0 < ber <= 0.5:
            raise ConfigError(f"{where}: row {i + 1}: ber={ber!r} must lie in (0, 0.5]")
        if not energy > 0:
            raise ConfigError(f"{where}: row {i + 1}: e_write_pj={energy!r} must be > 0")
        out.append((condition, float(ber), float(energy)))
    if not out:
        raise ConfigError(f"{where}: no rows (columns condition,ber,e_write_pj)")
    if len({c for c, _, _ in out}) != len(out):
        raise ConfigError(f"{where}: a condition appears twice")
    ordered = sorted(out, key=lambda r: r[2])
    for (c0, b0, e0), (c1, b1, e1) in zip(ordered, ordered[1:]):
        if b1 > b0:
            raise ConfigError(f"{where}: BER must not increase with energy ({c0}: {b0:g} at "
                              f"{e0:g} pJ, {c1}: {b1:g} at {e1:g} pJ)")
    return tuple(out)


def read_calibration(path: str | Path) -> tuple[tuple[str, float, float], ...]:
    """The rows of a calibration CSV with columns ``condition,ber,e_write_pj`` (one row per
    programming condition: its bit error rate per write and its energy per write in pJ)."""
    from metabnn.files import read_text

    text = read_text(path, "--calibration")
    reader = csv.DictReader(text.splitlines())
    missing = {"condition", "ber", "e_write_pj"} - set(reader.fieldnames or ())
    if missing:
        raise ConfigError(f"--calibration {path}: expected the columns condition,ber,e_write_pj "
                          f"(missing {', '.join(sorted(missing))})")
    rows = []
    for line, r in enumerate(reader, start=2):
        try:
            rows.append((r["condition"].strip(), float(r["ber"]), float(r["e_write_pj"])))
        except (TypeError, ValueError):
            raise ConfigError(f"--calibration {path} line {line}: ber={r['ber']!r}, "
                              f"e_write_pj={r['e_write_pj']!r}: not numbers") from None
    return check_calibration(rows, f"--calibration {path}")


def _loglog_interp(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear interpolation in (log x, log y), clamped at both ends."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x0 <= x <= x1:
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))
    raise AssertionError("unreachable")


# Default rows: the published anchors of Hirtzlin et al. (arXiv 1904.03652) at a placeholder
# weak-condition energy (1 pJ; calibrate), so that `--hardware table` runs out of the box.
_DEFAULT_ROWS = (("weak", 4e-2, 1.0), ("nominal", 1e-3, 10.0), ("strong", 1e-4, 30.0))


@HARDWARE.register("table", description="a measured (condition, BER, pJ/write) table, "
                   "interpolated log-log in energy")
@dataclass(frozen=True)
class TableCell(CellModel):
    """A user's calibration table: rows ``(condition, ber, e_write_pj)``.

    :math:`\\log p` is interpolated linearly in :math:`\\log E` between rows (clamped outside),
    so ``--prog-energy-pj`` and ``--ber`` work between measured points. BER must not increase
    with energy. Load a CSV with columns ``condition,ber,e_write_pj`` by :meth:`from_csv`.
    """

    rows: tuple[tuple[str, float, float], ...] = field(
        default=_DEFAULT_ROWS,
        metadata={"source": "Hirtzlin et al. arXiv 1904.03652 (BER anchors); energies: "
                  "placeholder: calibrate"},
    )

    def __post_init__(self) -> None:
        rows = sorted(self.rows, key=lambda r: r[2])
        if len(rows) < 1 or any(b1 > b0 for (_, b0, _), (_, b1, _) in zip(rows, rows[1:])):
            raise ConfigError("table cell: rows must be non-empty, BER non-increasing in energy")
        object.__setattr__(self, "rows", tuple(rows))

    @classmethod
    def from_csv(cls, path: str | Path) -> TableCell:
        return cls(read_calibration(path))

    @property
    def conditions(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(r[0] for r in self.rows)

    def energy_of(self, condition: str) -> float:
        return next(e for c, _, e in self.rows if c == condition)

    def ber_of(self, condition: str) -> float:
        return next(b for c, b, _ in self.rows if c == condition)

    def ber_at_energy(self, e_write_pj: float) -> float:
        return _loglog_interp(e_write_pj, [r[2] for r in self.rows], [r[1] for r in self.rows])

    def energy_at_ber(self, ber: float) -> float:
        if ber <= 0:
            return self.rows[-1][2]
        back = list(reversed(self.rows))  # BER increasing
        return _loglog_interp(ber, [r[1] for r in back], [r[2] for r in back])
