"""The Python API gives the command line's run: the docs example runs, and its numbers equal
`metabnn run`'s for the same config."""

from __future__ import annotations

import json
import re
from pathlib import Path

from metabnn.api import RunConfig, build, train
from metabnn.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_the_api_run_equals_the_command_line_run(data_root, tmp_path):
    argv = ["--strategy", "bnn-ewc", "--stream", "split-mnist", "--tasks", "2", "--hidden", "32",
            "--epochs", "2", "--train-per-task", "400", "--test-per-task", "200",
            "--param", "fisher_samples=100"]
    assert main(["run", *argv, "--data-root", str(data_root), "--out", str(tmp_path),
                 "--no-progress", "--wandb", "disabled"]) == 0
    (path,) = tmp_path.glob("*/results.json")
    cli = json.loads(path.read_text())
    config = RunConfig().with_(
        strategy="bnn-ewc", params={"fisher_samples": 100},
        stream={"name": "split-mnist", "tasks": 2, "train_per_task": 400, "test_per_task": 200},
        model={"hidden": [32]}, train={"epochs": 2})
    api = train(config, data_root=data_root)
    assert api["stamp"] == cli["stamp"]
    for key in ("accuracy_matrix", "curves", "metrics", "config", "strategy"):
        assert json.loads(json.dumps(api[key])) == cli[key], key
    run = build(config, data_root=data_root)
    assert run.config.stream.head == "multi"  # the resolved protocol, as the CLI runs it


def test_the_docs_example_runs(data_root, monkeypatch, capsys):
    monkeypatch.setenv("METABNN_DATA", str(data_root))
    text = (REPO / "docs" / "python-api.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    exec(compile(code, "docs/python-api.md", "exec"), {})  # asserts its two runs agree
    out = capsys.readouterr().out
    assert out.count("after ") == 2
