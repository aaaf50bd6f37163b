"""An electroencephalography stream: motor imagery of the EEG Motor Movement/Imagery Dataset.

PhysioNet ``eegmmidb`` (Schalk et al., IEEE Trans. Biomed. Eng. 51(6), 2004), read with MNE
(``mne.io.read_raw_edf``) from ``<data root>/MNE-eegbci-data/files/eegmmidb/1.0.0/S<nnn>/
S<nnn>R<rr>.edf``, MNE's own layout; where a network exists, ``mne.datasets.eegbci.load_data``
downloads missing files there. Runs 4, 8 and 12 are motor imagery of the left (T1) or the right
(T2) fist: each trial is the 64 channels x :data:`SAMPLES` samples (2 s at 160 Hz) from the cue,
standardised per channel. Runs 4 and 8 train, run 12 tests, for every subject.

``eeg-subjects`` — subject-incremental (a headset that meets new users): ``stream.params.
subjects`` subjects (default 20: subjects 1 to 20) in ``tasks`` groups (default 4 of 5), one per
experience; two classes (left, right); ``domain`` (default) or ``task``. Input ``(64, 320)``:
a 1-D conv net over time with the channels as input channels (default model ``bnn-1d``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from metabnn.benchmarks.ecg import _groups
from metabnn.benchmarks.registry import STREAMS, Stream
from metabnn.benchmarks.split import labelled_stream
from metabnn.config import StreamConfig
from metabnn.data import DataNotFoundError
from metabnn.seeding import generator

__all__ = ["edf_path", "read_trials", "eeg_subjects", "RUNS_TRAIN", "RUN_TEST", "SAMPLES"]

RUNS_TRAIN, RUN_TEST = (4, 8), 12
FS, SAMPLES, CHANNELS = 160, 320, 64


def edf_path(root: str | Path, subject: int, run: int) -> Path:
    """Where MNE keeps subject ``subject``'s run ``run`` under ``root``."""
    return (Path(root) / "MNE-eegbci-data" / "files" / "eegmmidb" / "1.0.0" / f"S{subject:03d}"
            / f"S{subject:03d}R{run:02d}.edf")


def _fetch(root: Path, subjects: list[int]) -> None:
    runs = [*RUNS_TRAIN, RUN_TEST]
    missing = [(s, r) for s in subjects for r in runs if not edf_path(root, s, r).exists()]
    if not missing:
        return
    try:
        import contextlib
        import io
        import logging

        from mne.datasets import eegbci

        pooch_log = logging.getLogger("pooch")
        level = pooch_log.level
        pooch_log.setLevel(logging.ERROR)  # its retries print to stderr; one line says it all
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                eegbci.load_data(sorted({s for s, _ in missing}), runs, path=str(root),
                                 update_path=False, verbose="error")
        finally:
            pooch_log.setLevel(level)
    except ImportError:
        raise DataNotFoundError("reading EEG needs MNE: pip install -e '.[biosignals]'") from None
    except Exception as err:  # no network, DNS failure, HTTP error...
        s, r = missing[0]
        raise DataNotFoundError(
            f"EEG Motor Movement/Imagery Dataset not found: {edf_path(root, s, r)} (and "
            f"{len(missing) - 1} more files) is missing and could not be downloaded "
            f"({type(err).__name__}). Point metabnn at the folder holding MNE-eegbci-data with "
            "--data-root DIR or METABNN_DATA=DIR (PhysioNet: physionet.org/content/eegmmidb)"
        ) from None


def read_trials(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(trials (n, 64, SAMPLES) float32, labels (n,) int64: 0 left, 1 right)`` of one run."""
    import mne

    try:
        raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    except Exception as err:
        raise DataNotFoundError(f"EEG file {path} cannot be read ({type(err).__name__}: {err}); "
                                "restore or re-download it") from None
    data = raw.get_data()[:CHANNELS].astype(np.float32)  # (64, T)
    fs = raw.info["sfreq"]
    trials, labels = [], []
    for onset, description in zip(raw.annotations.onset, raw.annotations.description):
        label = {"T1": 0, "T2": 1}.get(str(description))
        start = int(round(onset * fs))
        if label is None or start + SAMPLES > data.shape[1] or data.shape[0] != CHANNELS:
            continue
        trials.append(data[:, start:start + SAMPLES])
        labels.append(label)
    if not trials:
        return np.zeros((0, CHANNELS, SAMPLES), np.float32), np.zeros(0, np.int64)
    x = np.stack(trials)
    x = (x - x.mean(2, keepdims=True)) / (x.std(2, keepdims=True) + 1e-12)
    return x.astype(np.float32), np.asarray(labels, dtype=np.int64)


def _runs(root: Path, subjects: tuple[int, ...], runs: tuple[int, ...]
          ) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [read_trials(edf_path(root, s, r)) for s in subjects for r in runs]
    return (torch.from_numpy(np.concatenate([x for x, _ in parts])),
            torch.from_numpy(np.concatenate([y for _, y in parts])))


@STREAMS.register(
    "eeg-subjects", description="EEG motor imagery (left vs right fist), subject-incremental: a "
    "group of subjects per experience", scenarios=("domain", "task"), default_tasks=4,
    task_head="shared", default_model="bnn-1d",
    source="EEG Motor Movement/Imagery Dataset (PhysioNet eegmmidb, runs 4, 8, 12; 64 "
    "channels, 160 Hz), via MNE",
    sizes="--stream-param subjects=N (default 20) in --tasks groups (default 4); ~30 training "
    "and ~15 test trials per subject; 64 channels x 320 samples",
    params={"subjects": (20, "subjects 1 to N of the 109")})
def eeg_subjects(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    n = int(config.params.get("subjects", 20))
    subjects = tuple(range(1, n + 1))
    _fetch(Path(data_root), list(subjects))
    tasks = []
    for group in _groups(subjects, config.tasks or 4):
        tasks.append((_runs(Path(data_root), group, RUNS_TRAIN),
                      _runs(Path(data_root), group, (RUN_TEST,)), (0, 1)))
    return labelled_stream(tasks, config, generator(seed, "stream"), (CHANNELS, SAMPLES),
                           lambda x: x)
