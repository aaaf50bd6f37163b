"""Continual-learning streams, registered by name in :data:`STREAMS`.

Importing this package enrols every stream; Avalanche is imported only when a stream is built.
"""

from metabnn.benchmarks import (  # noqa: F401  (registers)
    cifar,
    ecg,
    eeg,
    pmnist,
    split,
    stream_learning,
    two_datasets,
)
from metabnn.benchmarks.registry import (
    STREAMS,
    Stream,
    build_stream,
    check_scenario,
    resolve,
    resolve_stream,
    stream_table,
)

__all__ = [
    "STREAMS",
    "Stream",
    "build_stream",
    "check_scenario",
    "resolve",
    "resolve_stream",
    "stream_table",
]
