"""W&B tracking with a real ``wandb`` in offline mode: the run files hold what was logged."""

from __future__ import annotations

import io
import json
import struct
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from metabnn.cli import main
from metabnn.tracking import resolve_mode


def read_wandb_records(path: Path) -> list:
    """The protobuf records of a ``.wandb`` file, with wandb's own ``Record`` message.

    wandb >= 0.2x writes these files from its Go core and ships no Python reader; the format is
    LevelDB's log format: a 7-byte header (":W&B", magic 0xBEE1, version 0), then 32 KiB blocks
    of chunks, each ``crc32 (4) | length (2) | type (1: full, 2: first, 3: middle, 4: last)``.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert struct.unpack("<4sHB", data[:7]) == (b":W&B", 0xBEE1, 0)
    records, pos, buf, block = [], 7, b"", 32768
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(buf)
            records.append(record)
    return records


@pytest.fixture(scope="module")
def offline_run(data_root, tmp_path_factory):
    """``metabnn run --wandb online`` with an API key but no network: it logs offline."""
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_API_KEY", "0" * 40)
        mp.setenv("WANDB_BASE_URL", "https://127.0.0.1")  # nothing listens on 127.0.0.1:443
        for name in ("WANDB_PROJECT", "WANDB_ENTITY"):  # the flags set them: undone after
            mp.delenv(name, raising=False)
        with redirect_stdout(io.StringIO()) as stdout:
            code = main(["run", "--tasks", "2", "--scenario", "task", "--model", "bnn",
                         "--hidden", "32", "--epochs", "2", "--train-per-task", "500",
                         "--test-per-task", "200", "--data-root", str(data_root), "--out",
                         str(out), "--no-progress", "--wandb", "online", "--wandb-project",
                         "cl-bench", "--wandb-entity", "my-lab"])
    assert code == 0
    (results_file,) = out.glob("*/results.json")
    results = json.loads(results_file.read_text())
    (wandb_file,) = (out / results["stamp"] / "wandb").glob("offline-run-*/run-*.wandb")
    return results, read_wandb_records(wandb_file), wandb_file.parent, stdout.getvalue()


def test_per_epoch_accuracy_of_every_task_is_in_the_history(offline_run):
    results, records, _, _ = offline_run
    history = [{i.key or "/".join(i.nested_key): json.loads(i.value_json)
                for i in r.history.item} for r in records if r.WhichOneof("record_type") ==
               "history"]
    epochs = [h for h in history if "accuracy/task_0" in h]
    assert [h["epoch"] for h in epochs] == [1, 2, 3, 4]  # 2 experiences x 2 epochs
    for h, row in zip(epochs, results["curves"]):
        assert [h["accuracy/task_0"], h["accuracy/task_1"]] == pytest.approx(row["accuracy"])
        assert h["experience"] == row["experience"] and h["train/loss"] > 0
    assert epochs[-1]["accuracy/mean_seen"] == pytest.approx(
        results["metrics"]["average_accuracy"])
    # the step metric of the task-indexed curves
    metrics = {r.metric.glob_name: r.metric.step_metric for r in records
               if r.WhichOneof("record_type") == "metric" and r.metric.glob_name}
    assert metrics["accuracy/*"] == "epoch" and metrics["train/*"] == "epoch"


def test_tables_plot_images_config_and_summary(offline_run):
    results, records, run_dir, _ = offline_run
    (curves_file,) = run_dir.glob("files/media/table/forgetting_curves_*.table.json")
    table = json.loads(curves_file.read_text())
    assert table["columns"] == ["trained_task", "epoch", "global_epoch", "evaluated_task",
                                "accuracy"]
    assert len(table["data"]) == 4 * 2  # epochs x evaluated tasks
    assert table["data"][2] == [0, 2, 2, 0, pytest.approx(results["curves"][1]["accuracy"][0])]
    (matrix_file,) = run_dir.glob("files/media/table/accuracy_matrix_*.table.json")
    matrix = json.loads(matrix_file.read_text())["data"]
    assert [row[0] for row in matrix] == [0, 1]
    assert [a for row in matrix for a in row[1:]] == pytest.approx(
        [a for row in results["accuracy_matrix"] for a in row])
    images = sorted(p.name.split("_")[0] for p in run_dir.glob("files/media/images/figures/*"))
    assert images == ["accuracy", "forgetting"]  # the heatmap and the forgetting curves

    config = {}  # the run record's config, then later updates (nested keys joined by "/")
    for r in records:
        kind = r.WhichOneof("record_type")
        updates = r.run.config.update if kind == "run" else r.config.update
        if kind in ("run", "config"):
            config.update({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                           for i in updates})
    assert config["stamp"] == results["stamp"] and config["train"]["epochs"] == 2
    # the strategy's resolved hyperparameters, as the run trained with them
    assert config["hyperparameters"] == results["strategy"]["hyperparameters"]
    assert config["hyperparameters"]["optim.meta"] == results["config"]["optim"]["meta"]
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (run.project, run.entity) == ("cl-bench", "my-lab")
    plot = config["_wandb/visualize/forgetting_curves_plot"]  # the line plot's spec
    assert plot["panel_config"]["fieldSettings"] == {
        "x": "global_epoch", "y": "accuracy", "stroke": "evaluated_task"}
    summary = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            summary.update({i.key: json.loads(i.value_json) for i in r.summary.update if i.key})
    assert summary["average_accuracy"] == pytest.approx(results["metrics"]["average_accuracy"])
    assert summary["stamp"] == results["stamp"]


def test_the_run_says_in_one_line_that_it_logged_offline(offline_run):
    _, _, run_dir, stdout = offline_run
    (line,) = [s for s in stdout.splitlines() if s.startswith("W&B:")]
    assert line == (f"W&B: logged offline to {run_dir} (upload later: wandb sync {run_dir})"
                    " [no network (127.0.0.1 unreachable)]")


def test_mode_falls_back_to_offline_without_key_or_network(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))  # no stored login
    monkeypatch.setenv("HOME", str(tmp_path))
    mode, reason = resolve_mode("online")
    assert mode == "offline" and "no W&B API key" in reason
    assert resolve_mode(None)[0] == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "https://127.0.0.1:9")  # nothing listens there
    # (the port does not matter: the probe connects to 443 of the host; 127.0.0.1:443 is closed)
    assert resolve_mode("online") == ("offline", "no network (127.0.0.1 unreachable)")
    assert resolve_mode("disabled") == ("disabled", "disabled as requested")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode(None)[0] == "disabled"
    with pytest.raises(ValueError, match="--wandb 'cloud' is invalid"):
        resolve_mode("cloud")


def test_an_empty_wandb_mode_counts_as_unset(monkeypatch, tmp_path, data_root):
    monkeypatch.setenv("WANDB_MODE", "")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_mode(None) == ("offline", "no W&B API key (WANDB_API_KEY or `wandb login`)")
    out = tmp_path / "runs"
    with redirect_stdout(io.StringIO()) as stdout:
        assert main(["run", "--tasks", "2", "--hidden", "16", "--epochs", "1",
                     "--train-per-task", "200", "--test-per-task", "100", "--data-root",
                     str(data_root), "--out", str(out), "--no-progress"]) == 0
    (line,) = [s for s in stdout.getvalue().splitlines() if s.startswith("W&B:")]
    assert line.startswith("W&B: logged offline to ")  # it logged, despite the empty variable


def test_when_wandb_fails_the_line_names_the_error_and_the_results_are_complete(
        data_root, tmp_path):
    """W&B made to fail for real: its folder in the run folder is a file, so it cannot start.
    The run's results are written in full and the last line says why nothing was logged."""
    from metabnn.config import RunConfig, from_dict, stamp
    from metabnn.runner import validate

    argv = ["--tasks", "2", "--hidden", "16", "--epochs", "1", "--train-per-task", "200",
            "--test-per-task", "100"]
    config = validate(from_dict(RunConfig, {"stream": {"tasks": 2, "train_per_task": 200,
                                                       "test_per_task": 100},
                                            "model": {"hidden": [16]}, "train": {"epochs": 1}}))
    out = tmp_path / "runs"
    (out / stamp(config)).mkdir(parents=True)
    (out / stamp(config) / "wandb").write_text("not a folder")
    with redirect_stdout(io.StringIO()) as stdout, pytest.warns(
            RuntimeWarning, match="W&B logging turned off for this run: FileExistsError"):
        assert main(["run", *argv, "--data-root", str(data_root), "--out", str(out),
                     "--no-progress", "--wandb", "offline"]) == 0
    (line,) = [s for s in stdout.getvalue().splitlines() if s.startswith("W&B:")]
    assert line.startswith("W&B: nothing logged: W&B failed to start (FileExistsError")
    results = json.loads((out / stamp(config) / "results.json").read_text())
    assert len(results["accuracy_matrix"]) == 2 and results["metrics"]["average_accuracy"] > 0
