"""Code fingerprints: what they hash, and that a run made by other code is never reused as
current (rerun, its old results kept; or reused only under --allow-stale, marked stale)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from metabnn.config import RunConfig, from_dict
from metabnn.fingerprint import (
    PRESENTATION,
    code_fingerprint,
    fingerprint_diff,
    fingerprint_id,
    source_files,
)
from metabnn.runner import run

REPO = Path(__file__).resolve().parents[1]
TINY = {"stream": {"name": "pmnist", "tasks": 2, "train_per_task": 300, "test_per_task": 200},
        "model": {"hidden": [16]}, "train": {"epochs": 1}}


def test_the_hash_covers_the_code_that_computes_and_not_the_code_that_shows():
    hashed = {rel for rel, _ in source_files()}
    for module in ("metabnn/optim.py", "metabnn/metrics.py", "metabnn/runner.py",
                   "metabnn/strategies.py", "benchmarks/pmnist.py", "baselines/ewc.py",
                   "hardware/array.py"):
        assert module in hashed, module
    for module in ("metabnn/cli.py", "metabnn/figures.py", "metabnn/leaderboard/build.py",
                   "metabnn/reproduce/report.py", "metabnn/runs.py"):
        assert module not in hashed, module
    assert all(not any(rel == p or rel.startswith(p) for p in PRESENTATION if p.endswith("/"))
               for rel in hashed)


def test_the_fingerprint_names_code_libraries_and_execution():
    fp = code_fingerprint("cpu", threads=3)
    assert fp["threads"] == 3 and fp["device"] == "cpu" and fp["kernels"] == "separate"
    assert fp["id"] == fingerprint_id(fp) and len(fp["id"]) == 12
    assert code_fingerprint("cpu", threads=1)["id"] != fp["id"]
    assert fp["avalanche-lib"] == "0.6.0" and fp["torch"]
    assert fingerprint_diff(fp, code_fingerprint("cpu", threads=1)) == "threads 3 -> 1"
    assert fingerprint_diff({**fp, "sources": "x"}, fp) == "sources"
    assert fingerprint_diff(None, fp).startswith("no fingerprint")


def _run(tmp_path, lines, **kw):
    config = from_dict(RunConfig, TINY)
    from conftest import _data_root

    return run(config, data_root=_data_root(), out_dir=tmp_path,
               progress=False, log=lines.append, **kw)


def test_a_run_done_by_other_code_reruns_and_its_old_results_are_kept(data_root, tmp_path):
    lines: list[str] = []
    first = _run(tmp_path, lines)
    assert first["fingerprint"] == code_fingerprint("cpu")
    lines.clear()
    assert _run(tmp_path, lines)["skipped"] is True  # same code: reused
    assert lines[0].startswith(f"run {first['stamp']}: already done by this code")

    other = {**first["fingerprint"], "sources": "0" * 16}
    other["id"] = fingerprint_id(other)
    results = Path(first["path"])
    body = json.loads(results.read_text())
    results.write_text(json.dumps({**body, "fingerprint": other}))  # as if older code made it

    lines.clear()
    stale = _run(tmp_path, lines, allow_stale=True)
    assert stale["stale"] is True and stale["stale_reason"] == "sources"
    assert "STALE result reused (--allow-stale)" in lines[0] and len(lines) == 1

    lines.clear()
    again = _run(tmp_path, lines)
    assert "skipped" not in again and again["fingerprint"]["id"] == first["fingerprint"]["id"]
    assert lines[0] == (f"run {first['stamp']}: done by other code (sources): rerunning; the "
                        f"old results will be kept in {results.parent / 'superseded'}/")
    (kept,) = (results.parent / "superseded").glob("results-*.json")
    assert json.loads(kept.read_text())["fingerprint"] == other  # never lost
    assert again["accuracy_matrix"] == first["accuracy_matrix"]  # same code, same numbers


def test_a_results_file_without_a_fingerprint_is_not_current(data_root, tmp_path):
    lines: list[str] = []
    first = _run(tmp_path, lines)
    body = json.loads(Path(first["path"]).read_text())
    del body["fingerprint"]
    Path(first["path"]).write_text(json.dumps(body))
    lines.clear()
    assert "skipped" not in _run(tmp_path, lines)
    assert "no fingerprint (made before fingerprints were recorded)" in lines[0]


def test_a_checkpoint_written_by_other_code_is_not_continued(data_root, tmp_path):
    """An interrupted run resumes only from a checkpoint of the same code: a result never
    mixes two versions of the code."""
    from metabnn.checkpoint import save_checkpoint
    from metabnn.runs import RunRegistry

    lines: list[str] = []
    first = _run(tmp_path, lines)
    # as if the run had died after its first experience, under other code
    RunRegistry(tmp_path / "registry.sqlite").fail(first["stamp"], "killed")
    save_checkpoint(Path(first["path"]).parent / "checkpoint.pt",
                    {"stamp": first["stamp"], "fingerprint": "0" * 12,
                     "position": {"experience": 1, "epoch": 0}})
    lines.clear()
    again = _run(tmp_path, lines)
    assert any(f"was written by other code (fingerprint {'0' * 12}, this code "
               f"{first['fingerprint']['id']}): starting from the beginning" in s for s in lines)
    assert again["accuracy_matrix"] == first["accuracy_matrix"]  # trained from scratch


@pytest.fixture()
def scratch(tmp_path):
    """A scratch copy of the package sources, a git repository of its own."""
    copy = tmp_path / "clone"
    copy.mkdir()
    for name in ("metabnn", "benchmarks", "baselines", "hardware"):
        shutil.copytree(REPO / name, copy / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=copy, check=True)
    subprocess.run([*git, "add", "."], cwd=copy, check=True)
    subprocess.run([*git, "commit", "-qm", "scratch"], cwd=copy, check=True)
    return copy


def _cli(copy: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(copy), "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, "-m", "metabnn.cli", *argv], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=300)


def test_scratch_clone_a_one_line_change_reruns_and_check_names_the_mismatch(scratch,
                                                                            data_root):
    """The issue's must-show, as a user does it: a tiny run, a one-line change to a module that
    computes results, the same command: rerun, not reused; `leaderboard check` on the old
    results file reports the fingerprint mismatch."""
    argv = ["run", "--stream", "pmnist", "--tasks", "2", "--hidden", "16", "--epochs", "1",
            "--train-per-task", "300", "--test-per-task", "200", "--data-root",
            str(Path(data_root).resolve()), "--no-progress"]
    first = _cli(scratch, *argv)
    assert first.returncode == 0, first.stderr
    assert "already done" not in first.stdout
    again = _cli(scratch, *argv)
    assert "already done by this code, skipped" in again.stdout
    with open(scratch / "metabnn" / "metrics.py", "a") as fh:
        fh.write("# a one-line change\n")
    changed = _cli(scratch, *argv)
    assert changed.returncode == 0, changed.stderr
    assert "done by other code (sources): rerunning" in changed.stdout
    assert "accuracy matrix" in changed.stdout  # it trained again
    (old,) = (scratch / "runs").glob("*/superseded/results-*.json")
    check = _cli(scratch, "leaderboard", "check", str(old))
    assert check.returncode == 2
    assert "was made by other code than this checkout's" in check.stderr
    assert "sources differ" in check.stderr
