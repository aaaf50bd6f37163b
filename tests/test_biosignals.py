"""ECG and EEG streams on records in the real file formats (written by wfdb and MNE), the
1-D conv net in its three precisions, their memory footprints worked out by hand, and the
one-line message when a dataset is missing."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("wfdb", reason="the biosignals extra: pip install -e '.[biosignals]'")
pytest.importorskip("mne", reason="the biosignals extra: pip install -e '.[biosignals]'")

from ecg_fixtures import write_mitdb  # noqa: E402
from eeg_fixtures import write_eegmmidb  # noqa: E402

from metabnn.benchmarks import build_stream  # noqa: E402
from metabnn.benchmarks.ecg import DS1, DS2, RECORDS, read_beats  # noqa: E402
from metabnn.cli import main  # noqa: E402
from metabnn.config import RunConfig, StreamConfig, from_dict  # noqa: E402
from metabnn.convnets1d import BinaryConv1dNet, Conv1dNet, HybridConv1dNet  # noqa: E402
from metabnn.data import dataset_tensors  # noqa: E402
from metabnn.memory import memory_footprint  # noqa: E402
from metabnn.runner import run  # noqa: E402


@pytest.fixture(scope="module")
def ecg_root(tmp_path_factory):
    return write_mitdb(tmp_path_factory.mktemp("ecg"))


@pytest.fixture(scope="module")
def eeg_root(tmp_path_factory):
    return write_eegmmidb(tmp_path_factory.mktemp("eeg"), 4)


def test_beats_are_read_from_the_records(ecg_root):
    beats, labels = read_beats(ecg_root / "mitdb", 101)
    # 24 s of beats every 250 samples from sample 200: 33 beats; '+' and 'Q' are not beats
    assert beats.shape == (33, 256) and beats.dtype.name == "float32"
    # the fixture's classes cycle N x6, A, V, F from an offset of the record number
    kinds = ["N"] * 6 + ["A", "V", "F"]
    want = [{"N": 0, "A": 1, "V": 2, "F": 3}[kinds[(i + 101) % 9]] for i in range(33)]
    assert labels.tolist() == want
    assert abs(float(beats.mean())) < 1e-5 and abs(float(beats[0].std()) - 1) < 1e-3


def test_patient_incremental_and_class_incremental_streams(ecg_root):
    s = build_stream(StreamConfig(name="ecg-patients"), seed=0, data_root=ecg_root)
    assert s.scenario == "domain" and s.n_classes == 4 and s.input_shape == (1, 256)
    train = [dataset_tensors(e.dataset) for e in s.train_stream]
    test = [dataset_tensors(e.dataset) for e in s.test_stream]
    assert len(train) == 4  # 44 records in 4 groups of 11
    for (x, y, t), (xt, yt, tt) in zip(train, test, strict=True):
        # 33 beats a record: the first 26 (80 %) train, the last 7 test
        assert x.shape == (11 * 26, 1, 256) and xt.shape == (11 * 7, 1, 256)
        assert set(t.tolist()) == set(tt.tolist()) == {0}
        assert set(y.tolist()) == set(yt.tolist()) == {0, 1, 2, 3}
    c = build_stream(StreamConfig(name="ecg-classes"), seed=0, data_root=ecg_root)
    assert c.scenario == "class" and c.n_classes == 4
    (x0, y0, _), (x1, y1, _) = [dataset_tensors(e.dataset) for e in c.train_stream]
    assert set(y0.tolist()) == {0, 1} and set(y1.tolist()) == {2, 3}  # N S, then V F
    # inter-patient: 22 DS1 records train, 22 DS2 records test
    assert len(y0) + len(y1) == sum(len(read_beats(ecg_root / "mitdb", r)[1]) for r in DS1)
    tests = [dataset_tensors(e.dataset)[1] for e in c.test_stream]
    assert sum(map(len, tests)) == sum(len(read_beats(ecg_root / "mitdb", r)[1]) for r in DS2)
    assert len(RECORDS) == 44 and not set(DS1) & set(DS2)


@pytest.mark.parametrize("model", ["bnn-1d", "hybrid-1d", "cnn-1d"])
def test_three_precisions_learn_the_patient_stream(model, ecg_root, tmp_path):
    config = from_dict(RunConfig, {
        "strategy": "meta", "stream": {"name": "ecg-patients", "tasks": 2},
        "model": {"name": model, "hidden": [32], "channels": [8, 16]},
        "train": {"epochs": 3, "batch_size": 32}})
    res = run(config, data_root=ecg_root, out_dir=tmp_path, progress=False, log=lambda s: None,
              record=False)
    assert min(res["accuracy_matrix"][-1]) > 0.8  # 4 classes; the fixture's beats are distinct
    mem = res["memory"]
    binary = {"bnn-1d": True, "hybrid-1d": True, "cnn-1d": False}[model]
    assert (mem["binary_weights"] > 0) == binary
    assert res["strategy"]["consolidated"].startswith("hidden weights" if binary else "real")


def test_memory_footprint_of_the_default_network_by_hand():
    # the default 1-D net on a (1, 256) beat, 4 classes: channels 16 32 64 (kernel 5, no bias),
    # each followed by a max-pool (256 -> 32 samples), then the default hidden 1024 1024:
    #   conv weights 1*16*5 + 16*32*5 + 32*64*5 = 80 + 2560 + 10240 = 12,880
    #   dense weights 2048*1024 + 1024*1024 + 1024*4 = 3,149,824 (no biases)
    #   BatchNorm scales and shifts 2 * (16 + 32 + 64) + 2 * (1024 + 1024 + 4) = 4,328
    full = memory_footprint(Conv1dNet((1, 256), (1024, 1024), 4))
    assert full["binary_weights"] == 0 and full["real_parameters"] == 12_880 + 3_149_824 + 4_328
    assert full["bits"] == 32 * 3_167_032  # 101,345,024 bits: 12,371.2 KiB
    hybrid = memory_footprint(HybridConv1dNet((1, 256), (1024, 1024), 4))
    assert hybrid["binary_weights"] == 3_149_824 and hybrid["real_parameters"] == 12_880 + 4_328
    assert hybrid["bits"] == 3_149_824 + 32 * 17_208  # 3,700,480 bits: 451.7 KiB
    binary = memory_footprint(BinaryConv1dNet((1, 256), (1024, 1024), 4))
    assert binary["binary_weights"] == 12_880 + 3_149_824 and binary["real_parameters"] == 4_328
    assert binary["bits"] == 3_162_704 + 32 * 4_328  # 3,301,200 bits: 403.0 KiB
    assert binary["kib"] == pytest.approx(3_301_200 / 8192)
    # the classifier holds most of the weights: binarizing it alone gives 27x less memory,
    # binarizing everything 31x
    assert full["bits"] / hybrid["bits"] == pytest.approx(27.39, abs=0.01)
    assert full["bits"] / binary["bits"] == pytest.approx(30.70, abs=0.01)


def test_binary_convolutions_go_into_simulated_memory(ecg_root, tmp_path):
    config = from_dict(RunConfig, {
        "strategy": "meta", "stream": {"name": "ecg-patients", "tasks": 2,
                                       "train_per_task": 100, "test_per_task": 50},
        "model": {"name": "bnn-1d", "hidden": [16], "channels": [4, 8]},
        "train": {"epochs": 1, "batch_size": 25}, "hardware": {"name": "rram-2t2r"}})
    hw = run(config, data_root=ecg_root, out_dir=tmp_path, progress=False, log=lambda s: None,
             record=False)["hardware"]
    counts = hw["counts"]["evaluation"]["convs.1"]
    # convs.1: 4 -> 8 channels, kernel 5, on 128 positions (after the first pool): per beat
    # 8 * 128 * 4 * 5 synapse reads
    assert counts["synapse_reads"] == counts["samples"] * 8 * 128 * 4 * 5


def test_eeg_subject_stream_runs_end_to_end(eeg_root, tmp_path):
    config = from_dict(RunConfig, {
        "strategy": "meta", "stream": {"name": "eeg-subjects", "tasks": 2,
                                       "params": {"subjects": 4}},
        "model": {"name": "hybrid-1d", "hidden": [32], "channels": [16]},
        "train": {"epochs": 4, "batch_size": 10}})
    res = run(config, data_root=eeg_root, out_dir=tmp_path, progress=False, log=lambda s: None,
              record=False)
    assert res["config"]["stream"]["params"] == {"subjects": 4}
    assert len(res["accuracy_matrix"]) == 2 and min(res["accuracy_matrix"][-1]) > 0.8
    s = build_stream(StreamConfig(name="eeg-subjects", tasks=2, params={"subjects": 4}),
                     seed=0, data_root=eeg_root)
    x, y, _ = dataset_tensors(s.train_stream[0].dataset)
    # subjects 1 and 2, runs 4 and 8, 10 cues each
    assert x.shape == (40, 64, 320) and torch.equal(y.bincount(), torch.tensor([20, 20]))


def test_a_missing_dataset_is_one_line_naming_where_it_looked(tmp_path, capsys):
    for stream, fragment in (("ecg-patients", "mitdb/100.hea"),
                             ("eeg-subjects", "S001R04.edf")):
        assert main(["run", "--stream", stream, "--data-root", str(tmp_path), "--out",
                     str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and fragment in err and "--data-root" in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow  # ~2 min: 27 runs at the smoke scale
def test_the_biosignals_recipe_runs_end_to_end(ecg_root, tmp_path):
    import json

    from metabnn.reproduce.recipe import load_recipe

    assert main(["reproduce", "biosignals", "--scale", "smoke", "--out", str(tmp_path),
                 "--data-root", str(ecg_root), "--workers", "1", "--seeds", "2"]) == 0
    folder = tmp_path / "reproductions" / "biosignals-smoke"
    summary = json.loads((folder / "summary.json").read_text())
    assert not summary["missing"] and len(summary["rows"]) == 3 * 3 * 2
    assert len(summary["comparison"]) == len(load_recipe("biosignals").expected)
    memory = {r["model.name"]: r["memory_kib"] for r in summary["rows"]}
    assert memory["cnn-1d"] > memory["hybrid-1d"] > memory["bnn-1d"]
    assert (folder / "figure.png").stat().st_size > 10_000
