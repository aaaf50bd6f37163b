"""Small MIT-BIH-format records for the ECG tests, written by wfdb itself (the real file
format: a header, 16-bit samples, an annotation file), with beats whose shapes differ by AAMI
class so that a network can learn them; the real database is not available offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metabnn.benchmarks.ecg import FS, RECORDS

#: beat shape per class: (amplitude, width in samples, offset of the peak from the R mark)
SHAPES = {"N": (1.0, 4.0, 0), "A": (0.6, 3.0, 0), "V": (-1.2, 16.0, 6), "F": (0.5, 9.0, 3)}


def write_mitdb(root: Path, *, seconds: float = 24.0, seed: int = 0) -> Path:
    """``root/mitdb`` with every record of :data:`RECORDS`: beats about every 0.7 s, mostly
    N, with A (S), V and F beats in every record, plus non-beat annotations ('+', '~') and
    unclassifiable beats ('Q') the reader must skip."""
    import wfdb

    folder = root / "mitdb"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    t = np.arange(n)
    kinds = ["N"] * 6 + ["A", "V", "F"]
    for record in RECORDS:
        peaks = np.arange(200, n - 300, 250)
        symbols = [kinds[(i + record) % len(kinds)] for i in range(len(peaks))]
        signal = 0.05 * rng.standard_normal(n)
        for p, s in zip(peaks, symbols):
            amp, width, shift = SHAPES[s]
            signal += amp * np.exp(-0.5 * ((t - p - shift) / width) ** 2)
        v1 = 0.5 * signal + 0.05 * rng.standard_normal(n)
        wfdb.wrsamp(str(record), fs=FS, units=["mV", "mV"], sig_name=["MLII", "V1"],
                    p_signal=np.stack([signal, v1], 1), fmt=["16", "16"], write_dir=str(folder))
        marks = list(peaks) + [10, int(peaks[3]) + 60]
        labels = symbols + ["+", "Q"]
        order = np.argsort(marks)
        wfdb.wrann(str(record), "atr", np.asarray(marks)[order],
                   symbol=[labels[i] for i in order], write_dir=str(folder))
    return root
