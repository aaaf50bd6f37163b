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
    assert set(counts) == {"program", "train", "evaluation"}
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
    assert hw["energy_total_pj"]["train"] > 0 and hw["energy_total_pj"]["evaluation"] > 0
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


def test_energy_by_component_with_evaluation_apart(data_root, tmp_path):
    """Components add up to each phase's total; device energy is writes + reads; the evaluation
    passes scale with the test set and leave training's energy as it was."""
    runs = [run(_config(name="rram-2t2r", condition="nominal").with_(
        stream={"test_per_task": n}), data_root=data_root, out_dir=tmp_path, progress=False,
        log=lambda s: None, record=False)["hardware"] for n in (500, 250)]
    hw = runs[0]
    assert hw["energy_unit"] == "pJ"
    price = {q: u["pj"] for q, u in hw["technology"].items()}
    for phase, parts in hw["energy_components_pj"].items():
        assert sum(parts.values()) == pytest.approx(hw["energy_total_pj"][phase])
        assert hw["device_energy_pj"][phase] == pytest.approx(
            parts["device_writes"] + parts["device_reads"])
    train = hw["counts"]["train"]
    writes = sum(q.get("writes", 0) for q in train.values())
    assert hw["energy_components_pj"]["train"]["device_writes"] == pytest.approx(
        writes * price["writes"]) and price["writes"] == hw["e_write_pj"] > 0
    updates = sum(q["hidden_updates"] for q in train.values())
    assert hw["energy_components_pj"]["train"]["hidden_updates"] == pytest.approx(
        updates * price["hidden_updates"])
    assert hw["energy_components_pj"]["evaluation"]["device_writes"] == 0
    # half the test images: half the evaluation reads; training's energy is untouched
    half = runs[1]
    assert half["energy_components_pj"]["train"] == hw["energy_components_pj"]["train"]
    assert half["energy_components_pj"]["evaluation"]["device_reads"] == pytest.approx(
        hw["energy_components_pj"]["evaluation"]["device_reads"] / 2)


def test_table_cell_loads_a_calibration_csv_from_the_cli(data_root, tmp_path, capsys):
    csv_file = tmp_path / "cell.csv"
    csv_file.write_text("condition,ber,e_write_pj\nweak,0.02,0.5\nnominal,0.001,4.0\n"
                        "strong,0.0001,12.0\n")
    args = ["run", "--tasks", "2", "--train-per-task", "1000", "--test-per-task", "500",
            "--hidden", "64", "64", "--epochs", "1", "--data-root", str(data_root),
            "--out", str(tmp_path), "--no-progress", "--hardware", "table", "--calibration"]
    assert main([*args, str(csv_file)]) == 0
    out = capsys.readouterr().out
    assert "uJ" not in out and "energy (pJ)" in out
    assert "unit energies (pJ per event) and their sources:" in out
    assert "Horowitz, ISSCC 2014" in out and "TableCell at condition nominal" in out
    (results_file,) = tmp_path.glob("*/results.json")
    results = json.loads(results_file.read_text())
    assert results["config"]["hardware"]["calibration"] == [
        ["weak", 0.02, 0.5], ["nominal", 0.001, 4.0], ["strong", 0.0001, 12.0]]
    hw = results["hardware"]
    assert hw["e_write_pj"] == 4.0 and hw["ber_per_write"] == 0.001
    # bad files: one line naming the file and what is wrong
    for text, message in (
            ("cond,ber\nweak,0.1\n", "expected the columns condition,ber,e_write_pj"),
            ("condition,ber,e_write_pj\nweak,x,1\n", "line 2: ber='x'"),
            ("condition,ber,e_write_pj\nweak,0.01,1\nstrong,0.02,5\n",
             "BER must not increase with energy"),
            ("condition,ber,e_write_pj\nweak,0.9,1\n", "ber=0.9 must lie in (0, 0.5]")):
        csv_file.write_text(text)
        assert main([*args, str(csv_file)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(csv_file) in err and message in err, err
    assert main([*args, str(tmp_path / "none.csv")]) == 2
    assert "none.csv" in capsys.readouterr().err
    # a calibration is for the table cell only
    csv_file.write_text("condition,ber,e_write_pj\nnominal,0.001,4.0\n")
    assert main([*args[:-3], "--hardware", "rram-2t2r", "--calibration", str(csv_file)]) == 2
    assert "hardware.calibration is for the table cell" in capsys.readouterr().err
