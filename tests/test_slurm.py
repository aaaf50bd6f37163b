"""The slurm sweep backend, end to end on submitit's local executor (each array task a process of
this machine, through the same submission code as sbatch): tasks write their own results, the
driver alone records them; a rerun gathers what finished and submits only what is missing."""

from __future__ import annotations

import json
import time

import pytest

from metabnn.cli import main
from metabnn.runs import RunRegistry

pytest.importorskip("submitit", reason="the slurm extra: pip install -e '.[slurm]'")

SWEEP = """\
name: {name}
base: {{stream: {{name: pmnist, tasks: 2, scenario: task, train_per_task: 500,
        test_per_task: {test}}}, model: {{name: bnn, hidden: [32]}}, train: {{epochs: 1}}}}
grid: {grid}
seeds: [0]
"""


def _sweep(tmp_path, name, grid, test=200):
    path = tmp_path / f"{name}.yaml"
    path.write_text(SWEEP.format(name=name, grid=grid, test=test))
    return path


def test_slurm_options_are_checked_before_anything_is_submitted(tmp_path, capsys):
    path = _sweep(tmp_path, "bad", "{strategy: [naive]}")
    args = ["sweep", str(path), "--backend", "slurm", "--out", str(tmp_path)]
    assert main([*args, "--slurm-time", "0"]) == 2
    assert "--slurm-time 0 is invalid: must be >= 1" in capsys.readouterr().err
    assert main([*args, "--slurm-option", "constraint"]) == 2
    assert "--slurm-option 'constraint' is invalid: use KEY=VALUE" in capsys.readouterr().err
    assert main([*args, "--slurm-mem", "-1"]) == 2
    assert "--slurm-mem -1.0 is invalid" in capsys.readouterr().err
    assert not (tmp_path / "sweeps").exists()


@pytest.mark.slow  # ~40 s: four task processes, then two more
def test_slurm_sweep_on_the_local_executor_records_every_run_once(data_root, tmp_path, capsys):
    # two strategies, and a point that fails at run time (BatchNorm on a test set of one image)
    path = _sweep(tmp_path, "arr", "{strategy: [naive, meta], stream.test_per_task: [200, 1]}")
    registry = tmp_path / "local-disk" / "registry.sqlite"
    args = ["sweep", str(path), "--backend", "slurm", "--slurm-cluster", "local",
            "--slurm-cpus", "1", "--out", str(tmp_path / "shared"), "--registry", str(registry),
            "--data-root", str(data_root)]
    assert main(args) == 1  # some runs failed
    out = capsys.readouterr().out
    assert "submitted 4 runs as job array" in out and "2 done, 2 failed" in out
    db = RunRegistry(registry)
    rows = db.list(sweep="arr")
    assert sorted(r["status"] for r in rows) == ["done", "done", "failed", "failed"]
    for r in rows:
        if r["status"] == "done":  # written by the task on the shared folder, gathered here
            results = json.loads((tmp_path / "shared" / r["stamp"] / "results.json").read_text())
            assert results["stamp"] == r["stamp"] and r["fingerprint"] == results[
                "fingerprint"]["id"] and results["fingerprint"]["threads"] == 1
            assert r["metrics"] == results["metrics"]
        else:
            assert "Expected more than 1 value per channel" in r["error"]
    jobs = json.loads((tmp_path / "shared" / "sweeps" / "arr" / "slurm" / "jobs.json").read_text())
    assert set(jobs) == {r["stamp"] for r in rows}
    # the rerun submits exactly the two failed runs again, nothing done
    assert main(args) == 1
    assert "submitted 2 runs" in capsys.readouterr().out


@pytest.mark.slow  # ~40 s: two rounds of task processes
def test_a_driver_that_did_not_wait_gathers_on_rerun(data_root, tmp_path, capsys):
    path = _sweep(tmp_path, "gather", "{optim.meta: [0.0, 1.35]}")
    args = ["sweep", str(path), "--backend", "slurm", "--slurm-cluster", "local",
            "--out", str(tmp_path), "--data-root", str(data_root)]
    assert main([*args, "--slurm-no-wait"]) == 0
    assert "rerun this sweep to gather" in capsys.readouterr().out
    db = RunRegistry(tmp_path / "registry.sqlite")
    assert {r["status"] for r in db.list(sweep="gather")} == {"running"}
    stamps = [r["stamp"] for r in db.list(sweep="gather")]
    deadline = time.time() + 300
    while not all((tmp_path / s / "results.json").exists() for s in stamps):
        assert time.time() < deadline, "the local array tasks did not finish"
        time.sleep(1)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("gathered from its results file") == 2 and "submitted" not in out
    assert {r["status"] for r in db.list(sweep="gather")} == {"done"}
