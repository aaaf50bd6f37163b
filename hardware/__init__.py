"""Hardware backends: binary weights in simulated memories, their errors and their energy.

* cell models, registered in :data:`HARDWARE` (``metabnn list hardware``): ``ideal``,
  ``rram-2t2r`` and ``rram-1t1r`` (:mod:`hardware.rram`), ``stt-mram`` (:mod:`hardware.mram`),
  ``table`` (:mod:`hardware.cells`);
* :class:`~hardware.array.SynapticArray`: a layer's weights in memory, written on sign flips,
  errors drawn for written cells only (:mod:`hardware.array`); ternary weights and the PCSA
  sense (:mod:`hardware.ternary`); error-aware training (:mod:`hardware.error_aware`);
  stochastic-computing inputs (:mod:`hardware.stochastic`);
* the energy ledger and technology table (:mod:`hardware.energy`);
* :func:`attach` puts a model's binary weights into arrays and returns the
  :class:`HardwareBackend`; the Avalanche plugin (:mod:`hardware.plugin`, imported lazily because
  Avalanche is slow to import) keeps it in step with training;
* ``metabnn sweep-ber`` (:mod:`hardware.sweep_ber`) and the speed script :mod:`hardware.perf`.
"""

from hardware import cells, mram, rram  # noqa: F401  (registers)
from hardware.array import SynapticArray
from hardware.backend import HardwareBackend, attach, listing, resolve_cell, wanted
from hardware.cells import CellModel, IdealCell, TableCell, WriteSpec
from hardware.energy import Ledger, TechnologyTable, UnitEnergy
from hardware.mram import STTMRAM
from hardware.registry import HARDWARE
from hardware.rram import RRAM1T1R, RRAM2T2R, HfO2Device
from hardware.stochastic import IdealSource, LFSRSource, SMTJSource, StochasticInput
from hardware.ternary import PCSASense

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
