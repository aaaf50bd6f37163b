"""Hardware backends: binary weights in simulated memories, their errors and their energy.

* cell models, registered in :data:`HARDWARE` (``metabnn list hardware``): ``ideal``,
  ``rram-2t2r`` and ``rram-1t1r`` (:mod:`metabnn.hardware.rram`), ``stt-mram``
  (:mod:`metabnn.hardware.mram`),
  ``table`` (:mod:`metabnn.hardware.cells`);
* :class:`~metabnn.hardware.array.SynapticArray`: a layer's weights in memory, written on sign
  flips,
  errors drawn for written cells only (:mod:`metabnn.hardware.array`); ternary weights and the PCSA
  sense (:mod:`hardware.ternary`); error-aware training (:mod:`metabnn.hardware.error_aware`);
  stochastic-computing inputs (:mod:`metabnn.hardware.stochastic`);
* the energy ledger and technology table (:mod:`metabnn.hardware.energy`);
* :func:`attach` puts a model's binary weights into arrays and returns the
  :class:`HardwareBackend`; the Avalanche plugin (:mod:`metabnn.hardware.plugin`, imported lazily
  because
  Avalanche is slow to import) keeps it in step with training;
* ``metabnn sweep-ber`` (:mod:`metabnn.hardware.sweep_ber`) and the speed script
  :mod:`metabnn.hardware.perf`.
"""

from metabnn.hardware import cells, mram, rram  # noqa: F401  (registers)
from metabnn.hardware.array import SynapticArray
from metabnn.hardware.backend import HardwareBackend, attach, listing, resolve_cell, wanted
from metabnn.hardware.cells import CellModel, IdealCell, TableCell, WriteSpec
from metabnn.hardware.energy import Ledger, TechnologyTable, UnitEnergy
from metabnn.hardware.mram import STTMRAM
from metabnn.hardware.registry import HARDWARE
from metabnn.hardware.rram import RRAM1T1R, RRAM2T2R, HfO2Device
from metabnn.hardware.stochastic import IdealSource, LFSRSource, SMTJSource, StochasticInput
from metabnn.hardware.ternary import PCSASense

__all__ = [
    "HARDWARE",
    "CellModel",
    "HardwareBackend",
    "HfO2Device",
    "IdealCell",
    "IdealSource",
    "LFSRSource",
    "Ledger",
    "PCSASense",
    "RRAM1T1R",
    "RRAM2T2R",
    "SMTJSource",
    "STTMRAM",
    "StochasticInput",
    "SynapticArray",
    "TableCell",
    "TechnologyTable",
    "UnitEnergy",
    "WriteSpec",
    "attach",
    "listing",
    "resolve_cell",
    "wanted",
]
