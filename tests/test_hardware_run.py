"""End to end: `metabnn run --hardware ...` writes the ledger; the CLI lists and refuses."""

from __future__ import annotations

import json

import pytest

from metabnn.baselines import STRATEGIES
from metabnn.cli import main
from metabnn.config import RunConfig, from_dict
from metabnn.hardware import HARDWARE
from metabnn.hardware.stats import wilson_interval
from metabnn.runner import run

TINY = {
    "stream": {"name": "pmnist", "tasks": 2, "train_per_task": 1000, "test_per_task": 500},
    "model": {"hidden": [64, 64]},
    "train": {"epochs": 1},
}


def _config(strategy: str = "meta", **hardware) -> RunConfig:
    return from_dict(RunConfig, {**TINY, "strategy": strategy, "hardware": hardware})


def test_run_with_rram_writes_the_ledger(data_root, tmp_path):
    res = run(_config(name="rram-2t2r", condition="weak"), data_root=data_root,
              out_dir=tmp_path, progress=False, log=lambda s: None, record=False)
    with open(res["path"]) as fh:
        hw = json.load(fh)["hardware"]
    counts = hw["counts"]
    assert set(counts) == {"program", "train", "inference"}
    train = counts["train"]
    for layer in ("layers.0", "layers.1", "layers.2"):
        # write-on-flip, no write-verify: every training write is a sign flip
        assert train[layer]["writes"] == train[layer]["flips"] > 0
        assert train[layer]["hidden_updates"] > 0 and train[layer]["synapse_reads"] > 0
    assert [t["task"] for t in hw["tasks"]] == [0, 1]
    assert sum(t["flips"] for t in hw["tasks"]) == sum(v["flips"] for v in train.values())
    m = hw["measured_ber"]
    lo, hi = wilson_interval(m["write_errors"], m["writes"])
    assert lo <= hw["ber_per_write"] <= hi
    assert hw["energy_total_pj"]["train"] > 0 and hw["energy_total_pj"]["inference"] > 0
    assert hw["endurance"]["max_writes_per_cell"] >= 1


def test_error_aware_and_sc_run_without_a_device(data_root, tmp_path):
    res = run(_config(error_aware_ber=0.02, sc_bits=4), data_root=data_root, out_dir=tmp_path,
              progress=False, log=lambda s: None, record=False)
    hw = res["hardware"]
    assert hw["backend"] == "none" and hw["ber_per_write"] == 0.0
    assert hw["counts"]["train"]["layers.0"]["random_bits"] > 0
    assert res["accuracy_matrix"][0][0] > 0.5  # still learns


def test_list_hardware_shows_presets(capsys):
    assert main(["list", "hardware"]) == 0
    out = capsys.readouterr().out
    for name in HARDWARE.names():
        assert name in out
    assert "weak: BER 0.04 @ 1 pJ/write" in out  # rram-1t1r, the published anchor


@pytest.mark.parametrize("argv, message", [
    (["--hardware", "rram-2t2"], "unknown hardware 'rram-2t2'; did you mean 'rram-2t2r'?"),
    (["--hardware", "rram-2t2r", "--condition", "medium"],
     "hardware.condition='medium' is invalid: allowed weak, nominal, strong"),
    (["--hardware", "stt-mram", "--ber", "0.6"], "hardware.ber=0.6 is invalid"),
])
def test_bad_hardware_input_one_line_exit_2(argv, message, tmp_path, capsys):
    code = main(["run", *argv, "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_every_strategy_runs_on_rram(strategy, data_root, tmp_path):
    models = STRATEGIES.entry(strategy).info.get("models")
    if models and "bnn" not in models:
        pytest.skip(f"{strategy} has no binary model")
    res = run(_config(strategy, name="rram-1t1r", condition="weak"), data_root=data_root,
              out_dir=tmp_path, progress=False, log=lambda s: None, record=False)
    hw = res["hardware"]
    assert hw["measured_ber"]["writes"] > 0 and len(hw["tasks"]) >= 1
