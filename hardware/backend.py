"""Attach a hardware backend to a model: synaptic arrays, stochastic inputs, energy ledger.

:func:`attach` resolves a :class:`~metabnn.config.HardwareConfig` (cell name, condition or
forced BER / energy, ternary, stochastic-input length, error-aware rate) and puts every binary
layer's weights into a :class:`~metabnn.hardware.array.SynapticArray` programmed with the current
:math:`t(W_h)`. It returns a :class:`HardwareBackend` that the training loop (or the Avalanche
plugin of :mod:`metabnn.hardware.plugin`) calls after each optimizer step; forward hooks count the
synapse reads, popcount bits and threshold comparisons of every pass.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from metabnn.config import HardwareConfig
from metabnn.hardware.array import SynapticArray
from metabnn.hardware.cells import CellModel, IdealCell, WriteSpec
from metabnn.hardware.energy import (
    COMPONENT_LABELS,
    COMPONENTS,
    PHASES,
    PRICED,
    Ledger,
    TechnologyTable,
)
from metabnn.hardware.registry import HARDWARE
from metabnn.hardware.stats import wilson_interval
from metabnn.hardware.stochastic import IdealSource, LFSRSource, SMTJSource, StochasticInput
from metabnn.hardware.ternary import PCSASense, twn_threshold
from metabnn.layers import BinaryLayer, binary_layers
from metabnn.seeding import generator

__all__ = ["HardwareBackend", "attach", "wanted", "resolve_cell", "listing"]


def wanted(config: HardwareConfig) -> bool:
    """Whether ``config`` asks for any hardware simulation at all."""
    return (config.name != "none" or config.ber is not None or config.prog_energy_pj is not None
            or config.ternary or config.sc_bits is not None or config.error_aware_ber > 0)


def resolve_cell(config: HardwareConfig) -> tuple[CellModel, WriteSpec]:
    """The cell model (``none`` is ``ideal``) and the write spec of its condition."""
    if config.name == "table" and config.calibration is not None:
        from metabnn.hardware.cells import TableCell, check_calibration

        cell: CellModel = TableCell(check_calibration(config.calibration, "hardware.calibration"))
    else:
        cell = IdealCell() if config.name == "none" else HARDWARE.get(config.name)()
    spec = cell.spec(config.condition, ber=config.ber, prog_energy_pj=config.prog_energy_pj)
    return cell, spec


def _reads_per_sample(layer: nn.Module, output: torch.Tensor) -> tuple[int, int]:
    """(synapse reads, neuron outputs) of one sample through ``layer``."""
    if isinstance(layer, nn.Conv1d):
        positions = output.shape[-1]
        fan_in = layer.in_channels // layer.groups * layer.kernel_size[0]
        return layer.out_channels * positions * fan_in, layer.out_channels * positions
    if isinstance(layer, nn.Conv2d):
        positions = output.shape[-2] * output.shape[-1]
        kh, kw = layer.kernel_size
        fan_in = layer.in_channels // layer.groups * kh * kw
        return layer.out_channels * positions * fan_in, layer.out_channels * positions
    return layer.in_features * layer.out_features, layer.out_features  # type: ignore[union-attr]


class HardwareBackend:
    """The arrays, ledger and prices of one simulated chip; see :func:`attach`."""

    def __init__(
        self,
        model: nn.Module,
        cell: CellModel,
        spec: WriteSpec,
        *,
        config: HardwareConfig,
        arrays: dict[str, SynapticArray],
        ledger: Ledger,
        table: TechnologyTable,
        retention_flip_prob: float = 0.0,
    ) -> None:
        self.model = model
        self.cell = cell
        self.spec = spec
        self.config = config
        self.arrays = arrays
        self.ledger = ledger
        self.table = table
        self.retention_flip_prob = retention_flip_prob
        self.layers = {n: m for n, m in binary_layers(model) if n in arrays}
        self._hooks = [m.register_forward_hook(self._count(n)) for n, m in self.layers.items()]

    def _count(self, name: str):
        ledger = self.ledger

        def hook(module: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            reads, outs = _reads_per_sample(module, output)
            q = module.input_quantizer
            samples = output.shape[0]
            frames = q.length if isinstance(q, StochasticInput) else 1
            phase = "train" if module.training else "evaluation"
            ledger.add(phase, name, "synapse_reads", samples * reads * frames)
            ledger.add(phase, name, "popcount_bits" if q is not None else "multibit_macs",
                       samples * reads * frames)
            ledger.add(phase, name, "threshold_comparisons", samples * outs)
            ledger.add(phase, name, "samples", samples)  # unpriced: energy per image

        return hook

    @torch.no_grad()
    def after_update(self) -> None:
        """After an optimizer step: write the flipped cells, count the digital updates."""
        for name, layer in self.layers.items():
            self.arrays[name].sync(layer.weight, "train")
            self.ledger.add("train", name, "hidden_updates", layer.weight.numel())

    def end_task(self, task: int) -> dict[str, Any]:
        """Retention event (if any) and the task's flips and writes."""
        for array in self.arrays.values():
            array.age(self.retention_flip_prob)
        return self.ledger.end_task(task)

    def remove_hooks(self) -> None:
        for handle in self._hooks:
            handle.remove()

    def summary(self, table: TechnologyTable | None = None) -> dict[str, Any]:
        """Everything results.json records: counts, energy, measured BER, endurance."""
        table = table or self.table
        energy = self.ledger.energy(table)
        writes, errors = self.ledger.total("writes"), self.ledger.total("write_errors")
        counts = [a.write_count for a in self.arrays.values()]
        return {
            "backend": self.config.name,
            "cell": {"type": type(self.cell).__name__, **dataclasses.asdict(self.cell)},
            "condition": self.spec.condition,
            "ber_per_write": self.spec.ber,
            "e_write_pj": self.spec.e_write_pj,
            "ternary": self.config.ternary,
            "sc_bits": self.config.sc_bits,
            "error_aware_ber": self.config.error_aware_ber,
            "counts": self.ledger.counts(),
            "energy_unit": "pJ",
            "energy_pj": energy,
            "energy_total_pj": {p: energy[p]["total_pj"] for p in PHASES if p in energy},
            "energy_components_pj": {p: energy[p]["components"] for p in PHASES if p in energy},
            "device_energy_pj": {p: energy[p]["device_pj"] for p in PHASES if p in energy},
            "technology": table.as_dict(),
            "measured_ber": {
                "writes": writes,
                "write_errors": errors,
                "ber": errors / writes if writes else 0.0,
                "ber_wilson_z4": list(wilson_interval(errors, writes)),
                "residual_errors": self.ledger.total("residual_errors"),
                "per_layer": {n: a.measured_ber() for n, a in self.arrays.items()},
            },
            "tasks": list(self.ledger.tasks),
            "endurance": {
                "max_writes_per_cell": max(int(c.max()) for c in counts),
                "mean_writes_per_cell": sum(float(c.sum()) for c in counts)
                / sum(c.numel() for c in counts),
            },
        }

    def format_summary(self) -> str:
        """The console report: BER, energy per phase and component (pJ) with the unit energy
        and source of every priced quantity, flips and writes per task, endurance."""
        s = self.summary()
        m = s["measured_ber"]
        phases = [p for p in PHASES if p in s["energy_components_pj"]]
        width = max(len(label) for label in COMPONENT_LABELS.values())
        lines = [
            f"hardware {s['backend']} ({s['condition']}): BER/write {s['ber_per_write']:.3g}, "
            f"{s['e_write_pj']:.3g} pJ/write; measured BER {m['ber']:.3g} "
            f"({m['write_errors']} / {m['writes']} writes)",
            f"energy (pJ) {'':<{width - 12}}" + "".join(f"{p:>13}" for p in phases),
        ]
        for c in COMPONENTS:
            lines.append(f"  {COMPONENT_LABELS[c]:<{width}}" + "".join(
                f"{s['energy_components_pj'][p][c]:>13.4g}" for p in phases))
        lines.append(f"  {'device (writes + reads)':<{width}}" + "".join(
            f"{s['device_energy_pj'][p]:>13.4g}" for p in phases))
        lines.append(f"  {'total':<{width}}" + "".join(
            f"{s['energy_total_pj'][p]:>13.4g}" for p in phases))
        lines.append("  (evaluation = the harness's test passes after every epoch; not training)")
        lines.append("unit energies (pJ per event) and their sources:")
        for q in PRICED:
            unit = s["technology"][q]
            node = f", {unit['node_nm']} nm" if unit.get("node_nm") else ""
            lines.append(f"  {q:<22}{unit['pj']:>9.3g}  {unit['source']}{node}")
        lines += [
            "per task: " + "; ".join(f"task {t['task']}: {t['flips']} flips, {t['writes']} writes"
                                     for t in s["tasks"]),
            f"endurance: max {s['endurance']['max_writes_per_cell']} writes/cell, "
            f"mean {s['endurance']['mean_writes_per_cell']:.3g}",
        ]
        return "\n".join(lines)


def attach(
    model: nn.Module,
    config: HardwareConfig,
    *,
    seed: int,
    cell: CellModel | None = None,
    sc_source: IdealSource | LFSRSource | SMTJSource | None = None,
    pcsa: PCSASense | None = None,
    verify_retries: int = 0,
    read_ber: float = 0.0,
    retention_flip_prob: float = 0.0,
    table: TechnologyTable | None = None,
) -> HardwareBackend:
    """Put ``model``'s binary weights into simulated memory; returns the backend.

    ``cell`` overrides the registered cell of ``config.name`` (e.g. a calibrated
    :class:`~metabnn.hardware.cells.TableCell`); ``pcsa`` the ternary sense (default
    :meth:`PCSASense.from_ber` of the cell's BER, error-free for ``ideal``).
    """
    if cell is None:
        cell, spec = resolve_cell(config)
    else:
        spec = cell.spec(config.condition, ber=config.ber, prog_energy_pj=config.prog_energy_pj)
    ledger = Ledger()
    gen = generator(seed, "hardware")
    if config.ternary and pcsa is None:
        pcsa = PCSASense() if spec.ber == 0 and isinstance(cell, IdealCell) else (
            PCSASense.from_ber(spec.ber))
    arrays: dict[str, SynapticArray] = {}
    layers: list[tuple[str, BinaryLayer]] = binary_layers(model)
    for name, layer in layers:
        array = SynapticArray(
            layer.weight, spec, generator=gen, ledger=ledger, name=name,
            ternary_threshold=twn_threshold(layer.weight) if config.ternary else None,
            confusion=pcsa.matrix() if pcsa is not None else None,
            verify_retries=verify_retries, read_ber=read_ber,
            error_aware=config.error_aware_ber,
        )
        layer.kernel_quantizer = array
        arrays[name] = array
    if config.sc_bits is not None and layers:
        name, first = layers[0]
        if first.input_quantizer is None:
            first.input_quantizer = StochasticInput(
                config.sc_bits, sc_source, generator=generator(seed, "sc"), ledger=ledger,
                name=name,
            )
    write_source = f"{type(cell).__name__} at condition {spec.condition}"
    return HardwareBackend(
        model, cell, spec, config=config, arrays=arrays, ledger=ledger,
        table=(table or TechnologyTable()).with_write_energy(spec.e_write_pj, write_source),
        retention_flip_prob=retention_flip_prob,
    )


def listing() -> list[str]:
    """One block per registered cell: its presets with BER and energy per write."""
    lines = []
    for entry in HARDWARE.entries():
        cell = entry.obj()
        lines.append(f"{entry.name:<12} {entry.description}")
        presets = ", ".join(f"{c}: BER {cell.ber_of(c):.3g} @ {cell.energy_of(c):.3g} pJ/write"
                            for c in cell.conditions)
        lines.append(f"{'':<12} {presets}")
    return lines
