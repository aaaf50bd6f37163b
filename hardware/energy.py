"""Energy ledger: event counts per layer and phase, priced by a technology table.

.. math::  E_{phase} = \\sum_{layer} \\sum_{q} n_{phase, layer, q} \\; e_q

Phases (:data:`PHASES`): ``program`` (writing the initial weights into the arrays), ``train``
(every forward pass and weight update of training) and ``evaluation`` (the test passes the
benchmark harness makes after every epoch: they scale with the test set and the number of
evaluations, not with the learning rule, so they are never added to training). Every energy is
in picojoules (pJ), in files and on the console.

Components (:data:`COMPONENTS`) group the priced quantities by what spends the energy:
``device_writes`` and ``device_reads`` (the memory devices themselves: what a learning rule's
flips cost on the chip), ``hidden_updates`` (the digital optimizer step on the fp32 hidden
weights, off the array), ``compute`` (XNOR-popcount, threshold and multi-bit MACs) and
``random_bits``. The *device energy* of a phase is its writes plus reads.

Counts and unit energies are kept apart, so :meth:`Ledger.energy` re-prices a finished run with
another :class:`TechnologyTable` without rerunning it. Counts derived from data (write errors)
are accumulated as tensors, without host synchronisation per step; counts derived from shapes
are Python integers.

Priced quantities (:data:`PRICED`): ``writes`` (device write attempts), ``verify_reads``,
``synapse_reads`` (one sense operation = XNOR of a stored weight with a binary input, in the
PCSA), ``popcount_bits``, ``threshold_comparisons`` (one per neuron output), ``multibit_macs``
(a layer on real-valued inputs), ``random_bits`` and ``hidden_updates`` (the digital
optimizer step on one fp32 hidden weight). Counted only (:data:`EVENTS`): ``flips`` (sign
changes proposed by the optimizer), ``write_errors`` (failed write attempts),
``residual_errors`` (wrong after write-verify), ``retention_errors``, ``samples`` (inputs a
layer processed: energy per image).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["UnitEnergy", "TechnologyTable", "Ledger", "PRICED", "EVENTS", "PHASES",
           "COMPONENTS", "COMPONENT_LABELS", "components", "device_energy"]

PRICED = (
    "writes", "verify_reads", "synapse_reads", "popcount_bits", "threshold_comparisons",
    "multibit_macs", "random_bits", "hidden_updates",
)
EVENTS = ("flips", "write_errors", "residual_errors", "retention_errors", "samples")
PHASES = ("program", "train", "evaluation")
COMPONENTS: dict[str, tuple[str, ...]] = {
    "device_writes": ("writes",),
    "device_reads": ("synapse_reads", "verify_reads"),
    "hidden_updates": ("hidden_updates",),
    "compute": ("popcount_bits", "threshold_comparisons", "multibit_macs"),
    "random_bits": ("random_bits",),
}
COMPONENT_LABELS = {
    "device_writes": "device writes", "device_reads": "device reads",
    "hidden_updates": "hidden-weight updates (digital)",
    "compute": "XNOR-popcount/MAC (digital)", "random_bits": "random bits",
}

_HOROWITZ = "Horowitz, ISSCC 2014, 'Computing's energy problem'"


@dataclass(frozen=True)
class UnitEnergy:
    """One unit energy with where it comes from."""

    pj: float
    source: str
    node_nm: int | None = None
    """CMOS process node of the figure (None for a device property)"""


@dataclass(frozen=True)
class TechnologyTable:
    """Unit energy of each priced quantity (pJ per event); one field per :data:`PRICED` name."""

    writes: UnitEnergy = UnitEnergy(0.0, "set from the cell model's condition (pJ per bit write)")
    verify_reads: UnitEnergy = UnitEnergy(
        0.01, "placeholder: calibrate (one PCSA read, order of Hirtzlin et al. 1908.04066)", 130)
    synapse_reads: UnitEnergy = UnitEnergy(
        0.01, "placeholder: calibrate (PCSA XNOR read, order of Hirtzlin et al. 1908.04066)",
        130)
    popcount_bits: UnitEnergy = UnitEnergy(
        0.004, f"{_HOROWITZ}: 8-bit add 0.03 pJ / 8 bits", 45)
    threshold_comparisons: UnitEnergy = UnitEnergy(
        0.05, f"{_HOROWITZ}: 16-bit add (interpolated between 8- and 32-bit adds)", 45)
    multibit_macs: UnitEnergy = UnitEnergy(
        0.23, f"{_HOROWITZ}: 8-bit multiply 0.2 pJ + 8-bit add 0.03 pJ", 45)
    random_bits: UnitEnergy = UnitEnergy(
        0.02, "Mizrahi et al. arXiv 1806.09124: superparamagnetic junction, ~20 fJ/bit", None)
    hidden_updates: UnitEnergy = UnitEnergy(
        50.0, f"{_HOROWITZ}: ~10 fp32 ops (0.9-3.7 pJ) + 6 32-bit 8 kB SRAM accesses (~5 pJ); "
        "estimate", 45)

    def price(self, quantity: str) -> float:
        return getattr(self, quantity).pj

    def with_write_energy(self, e_write_pj: float, source: str) -> TechnologyTable:
        return dataclasses.replace(self, writes=UnitEnergy(e_write_pj, source))

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {q: dataclasses.asdict(getattr(self, q)) for q in PRICED}


def components(layers: dict[str, dict[str, int]], price: Any) -> dict[str, float]:
    """pJ of each component over ``{layer: {quantity: count}}``, ``price(quantity)`` in pJ."""
    return {c: float(sum(n * price(q) for qs in layers.values() for q, n in qs.items()
                         if q in quantities))
            for c, quantities in COMPONENTS.items()}


def device_energy(hardware: dict[str, Any], phase: str = "train") -> float | None:
    """Device energy (writes + reads, pJ) of ``phase`` from a results file's ``hardware``
    section: its counts priced by its own technology table; ``None`` without them."""
    counts = (hardware.get("counts") or {}).get(phase)
    technology = hardware.get("technology")
    if not isinstance(counts, dict) or not isinstance(technology, dict):
        return None
    parts = components(counts, lambda q: float(technology[q]["pj"]))
    return parts["device_writes"] + parts["device_reads"]


def _value(n: int | torch.Tensor) -> int:
    return int(n.item()) if isinstance(n, torch.Tensor) else int(n)


class Ledger:
    """Counts ``(phase, layer, quantity) -> n``; per-task snapshots for endurance."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], int | torch.Tensor] = defaultdict(int)
        self.tasks: list[dict[str, Any]] = []
        self._mark: dict[str, int] = {}

    def add(self, phase: str, layer: str, quantity: str, n: int | torch.Tensor) -> None:
        if quantity not in PRICED and quantity not in EVENTS:
            raise KeyError(f"unknown ledger quantity {quantity!r}")
        self._counts[(phase, layer, quantity)] = self._counts[(phase, layer, quantity)] + n

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Nested ``{phase: {layer: {quantity: n}}}`` as Python ints (one sync per count)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (phase, layer, q), n in sorted(self._counts.items()):
            out.setdefault(phase, {}).setdefault(layer, {})[q] = _value(n)
        return out

    def total(self, quantity: str, phase: str | None = None, layer: str | None = None) -> int:
        return sum(_value(n) for (p, lay, q), n in self._counts.items()
                   if q == quantity and phase in (None, p) and layer in (None, lay))

    def energy(self, table: TechnologyTable) -> dict[str, Any]:
        """``{phase: {"layers": {layer: {quantity: pJ}}, "components": {component: pJ},
        "device_pj": pJ, "total_pj": pJ}}``: counts times ``table``."""
        out: dict[str, Any] = {}
        for phase, layers in self.counts().items():
            priced = {
                layer: {q: n * table.price(q) for q, n in qs.items() if q in PRICED}
                for layer, qs in layers.items()
            }
            parts = components(layers, table.price)
            out[phase] = {
                "layers": priced,
                "components": parts,
                "device_pj": parts["device_writes"] + parts["device_reads"],
                "total_pj": sum(sum(qs.values()) for qs in priced.values()),
            }
        return out

    def state_dict(self) -> dict[str, Any]:
        """Counts, task rows and the per-task mark, for checkpoints (plain ints)."""
        return {"counts": [[p, lay, q, _value(n)] for (p, lay, q), n in self._counts.items()],
                "tasks": [dict(t) for t in self.tasks], "mark": dict(self._mark)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._counts = defaultdict(int, {(p, lay, q): n for p, lay, q, n in state["counts"]})
        self.tasks = [dict(t) for t in state["tasks"]]
        self._mark = dict(state["mark"])

    def end_task(self, task: int) -> dict[str, Any]:
        """Record training flips and writes since the previous call under ``task`` (endurance)."""
        now = {q: self.total(q, "train") for q in ("flips", "writes", "write_errors")}
        row = {"task": task, **{q: n - self._mark.get(q, 0) for q, n in now.items()}}
        self._mark = now
        self.tasks.append(row)
        return row
