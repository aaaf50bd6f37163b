"""Electrocardiography streams from the MIT-BIH Arrhythmia Database (PhysioNet ``mitdb``).

Records are read with ``wfdb`` (PhysioNet's own reader) from ``<data root>/mitdb/<record>.hea``,
``.dat`` and ``.atr``; where a network exists, ``wfdb.dl_database`` downloads them there first.
Each beat is the window of :data:`WINDOW` samples of the MLII lead (360 Hz) around its annotated
R peak (:data:`BEFORE` samples before it), standardised to zero mean and unit variance, labelled
with its AAMI class (ANSI/AAMI EC57): N (normal, bundle branch blocks, escapes), S
(supraventricular ectopic), V (ventricular ectopic), F (fusion). Unclassifiable and paced beats
(AAMI Q) are left out, as are the four paced records, following de Chazal et al. (IEEE Trans.
Biomed. Eng. 51(7), 2004), whose inter-patient split is :data:`DS1` (training patients) and
:data:`DS2` (test patients).

Streams (both ``(1, 256)`` signals, default model ``bnn-1d``):

* ``ecg-patients`` — patient-incremental, as a device meets new wearers: the 44 records in
  ``tasks`` groups of consecutive record numbers (default 4), each experience one group; a
  record's first 80 % of beats (in time) train, its last 20 % test. ``domain`` (default: one
  4-class head, no task label: the device is not told the wearer) or ``task``.
* ``ecg-classes`` — arrhythmia-class-incremental, inter-patient: training beats from the DS1
  patients, test beats from the DS2 patients, the classes in ``tasks`` groups (default 2:
  N and S, then V and F). ``class`` (default), ``task`` or ``domain``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from metabnn.benchmarks.registry import STREAMS, Stream
from metabnn.benchmarks.split import labelled_stream
from metabnn.config import ConfigError, StreamConfig
from metabnn.data import DataNotFoundError
from metabnn.seeding import generator

__all__ = ["AAMI", "CLASSES", "DS1", "DS2", "RECORDS", "read_beats", "mitdb_folder",
           "ecg_patients", "ecg_classes"]

#: de Chazal et al. 2004: the inter-patient split (the paced records 102, 104, 107, 217 left out)
DS1 = (101, 106, 108, 109, 112, 114, 115, 116, 118, 119, 122, 124, 201, 203, 205, 207, 208, 209,
       215, 220, 223, 230)
DS2 = (100, 103, 105, 111, 113, 117, 121, 123, 200, 202, 210, 212, 213, 214, 219, 221, 222, 228,
       231, 232, 233, 234)
RECORDS = tuple(sorted(DS1 + DS2))
CLASSES = ("N", "S", "V", "F")
#: MIT-BIH beat symbol -> AAMI class index (ANSI/AAMI EC57)
AAMI = {**dict.fromkeys("NLRej", 0), **dict.fromkeys("AaJS", 1), **dict.fromkeys("VE", 2),
        "F": 3}
FS = 360
BEFORE, WINDOW = 90, 256  # 0.25 s before the R peak, 0.46 s after it
TRAIN_SHARE = 0.8


def mitdb_folder(data_root: str | Path, records: tuple[int, ...] = RECORDS) -> Path:
    """``<data_root>/mitdb`` holding ``records``, downloaded there where a network exists;
    :class:`~metabnn.data.DataNotFoundError` (one line: where it looked) otherwise."""
    folder = Path(data_root) / "mitdb"
    missing = [r for r in records if not (folder / f"{r}.hea").exists()]
    if missing:
        try:
            import wfdb

            wfdb.dl_database("mitdb", str(folder), records=[str(r) for r in missing])
        except ImportError:
            raise DataNotFoundError(
                "reading MIT-BIH needs wfdb: pip install -e '.[biosignals]'") from None
        except Exception as err:  # no network, DNS failure, HTTP error...
            raise DataNotFoundError(
                f"MIT-BIH Arrhythmia Database not found: {folder / f'{missing[0]}.hea'} (and "
                f"{len(missing) - 1} more records) is missing and could not be downloaded "
                f"({type(err).__name__}). Point metabnn at a folder holding mitdb/<record>"
                ".{hea,dat,atr} with --data-root DIR or METABNN_DATA=DIR (PhysioNet: "
                "physionet.org/content/mitdb)") from None
    return folder


def read_beats(folder: Path, record: int) -> tuple[np.ndarray, np.ndarray]:
    """``(beats (n, WINDOW) float32, AAMI labels (n,) int64)`` of one record, in time order."""
    import wfdb

    path = str(folder / str(record))
    try:
        signal = wfdb.rdrecord(path)
        ann = wfdb.rdann(path, "atr")
    except Exception as err:
        raise DataNotFoundError(f"MIT-BIH record {path} cannot be read ({type(err).__name__}: "
                                f"{err}); restore or re-download it") from None
    names = list(signal.sig_name)
    lead = names.index("MLII") if "MLII" in names else 0
    x = np.asarray(signal.p_signal[:, lead], dtype=np.float32)
    beats, labels = [], []
    for sample, symbol in zip(ann.sample, ann.symbol):
        label = AAMI.get(symbol)
        start = int(sample) - BEFORE
        if label is None or start < 0 or start + WINDOW > len(x):
            continue
        beats.append(x[start:start + WINDOW])
        labels.append(label)
    if not beats:
        return np.zeros((0, WINDOW), np.float32), np.zeros(0, np.int64)
    b = np.stack(beats)
    b = (b - b.mean(1, keepdims=True)) / (b.std(1, keepdims=True) + 1e-6)
    return b.astype(np.float32), np.asarray(labels, dtype=np.int64)


def _tensors(beats: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(beats).unsqueeze(1), torch.from_numpy(labels)  # (n, 1, WINDOW)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _groups(items: tuple[int, ...], k: int) -> list[tuple[int, ...]]:
    if not 1 <= k <= len(items):
        raise ConfigError(f"stream.tasks={k} is invalid: 1 to {len(items)} groups")
    bounds = np.linspace(0, len(items), k + 1).round().astype(int)
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


_INFO = dict(source="MIT-BIH Arrhythmia Database (PhysioNet mitdb, 44 non-paced records, "
             "360 Hz, MLII lead)", default_model="bnn-1d")


@STREAMS.register(
    "ecg-patients", description="ECG heartbeats, patient-incremental: a group of patients per "
    "experience (AAMI N, S, V, F)", scenarios=("domain", "task"), default_tasks=4,
    task_head="shared",
    sizes="44 records in --tasks groups (default 4 of 11); ~110k beats in all, 80/20 % "
    "train/test in time per record; 256-sample beats", **_INFO)
def ecg_patients(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    folder = mitdb_folder(data_root)
    tasks = []
    for group in _groups(RECORDS, config.tasks or 4):
        train, test = [], []
        for record in group:
            beats, labels = read_beats(folder, record)
            cut = int(len(labels) * TRAIN_SHARE)
            train.append((beats[:cut], labels[:cut]))
            test.append((beats[cut:], labels[cut:]))
        tasks.append((_tensors(*map(np.concatenate, zip(*train))),
                      _tensors(*map(np.concatenate, zip(*test))), tuple(range(len(CLASSES)))))
    return labelled_stream(tasks, config, generator(seed, "stream"), (1, WINDOW), _identity)


@STREAMS.register(
    "ecg-classes", description="ECG heartbeats, arrhythmia-class-incremental, inter-patient "
    "(train on DS1 patients, test on DS2; de Chazal et al. 2004)",
    scenarios=("class", "task", "domain"), default_tasks=2, tasks=(1, 2, 4), task_head="multi",
    sizes="4 AAMI classes in --tasks groups (default 2: N S, then V F); ~50k training beats "
    "(DS1), ~50k test beats (DS2); 256-sample beats", **_INFO)
def ecg_classes(config: StreamConfig, *, seed: int, data_root: Path) -> Stream:
    folder = mitdb_folder(data_root)
    train = _tensors(*map(np.concatenate, zip(*(read_beats(folder, r) for r in DS1))))
    test = _tensors(*map(np.concatenate, zip(*(read_beats(folder, r) for r in DS2))))
    tasks = []
    for classes in _groups(tuple(range(len(CLASSES))), config.tasks or 2):
        keep_tr, keep_te = torch.isin(train[1], torch.tensor(classes)), torch.isin(
            test[1], torch.tensor(classes))
        tasks.append(((train[0][keep_tr], train[1][keep_tr]),
                      (test[0][keep_te], test[1][keep_te]), classes))
    return labelled_stream(tasks, config, generator(seed, "stream"), (1, WINDOW), _identity)
