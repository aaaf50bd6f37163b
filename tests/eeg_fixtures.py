"""Small EEG Motor Movement/Imagery files for the EEG tests, in the real format (EDF, written
by MNE through edfio) and MNE's folder layout, with class-dependent rhythms so that a network can
learn left from right; the real dataset is not available offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metabnn.benchmarks.eeg import CHANNELS, FS, RUN_TEST, RUNS_TRAIN, edf_path


def write_eegmmidb(root: Path, subjects: int, *, trials: int = 10, seed: int = 0) -> Path:
    """Runs 4, 8 and 12 of subjects 1..``subjects``: alternating T1 / T2 cues every 4 s (T0
    rest between), a 10 Hz rhythm on the first 32 channels after T1 and on the last 32 after
    T2, plus noise."""
    import mne

    rng = np.random.default_rng(seed)
    names = [f"C{i:02d}." for i in range(CHANNELS)]
    for subject in range(1, subjects + 1):
        for run in (*RUNS_TRAIN, RUN_TEST):
            seconds = 4 * trials + 4
            t = np.arange(int(seconds * FS)) / FS
            data = 10e-6 * rng.standard_normal((CHANNELS, len(t)))
            onsets, labels = [], []
            for k in range(trials):
                onset = 2.0 + 4 * k
                label = "T1" if k % 2 == 0 else "T2"
                window = (t >= onset) & (t < onset + 2.0)
                rows = slice(0, 32) if label == "T1" else slice(32, 64)
                data[rows, window] += 40e-6 * np.sin(2 * np.pi * 10 * t[window])
                onsets += [onset, onset + 2.0]
                labels += [label, "T0"]
            info = mne.create_info(names, FS, "eeg")
            raw = mne.io.RawArray(data, info, verbose="error")
            raw.set_annotations(mne.Annotations(onsets, [2.0] * len(onsets), labels))
            path = edf_path(root, subject, run)
            path.parent.mkdir(parents=True, exist_ok=True)
            mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")
    return root
