"""Fidelity harness: metabnn beside the authors' code (``python -m
metabnn.benchmarks.fidelity``)."""
