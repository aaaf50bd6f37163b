"""Damaged and hostile files: every file the suite reads back, truncated, empty, random bytes,
of another schema, another run's, a symlink out of its folder, or not writable, is refused in
one line that names it and says what to do, with exit code 2; the file is left as it was and
nothing is recreated empty. A full disk (a file-size limit, for real) while results are written
leaves the previous results file intact."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from metabnn.cli import main
from metabnn.runs import RunRegistry

REPO = Path(__file__).resolve().parents[1]
TINY = ["--tasks", "2", "--hidden", "16", "--epochs", "1", "--train-per-task", "200",
        "--test-per-task", "100", "--no-progress", "--wandb", "disabled"]
RANDOM = bytes(range(256)) * 8  # not UTF-8, not JSON, not SQLite, not a pickle of state


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def _table_row(file: str, damage: str, code: int, message: str, preserved: str,
               tmp_path: Path) -> None:
    """With ``METABNN_DAMAGE_TABLE=FILE`` set, append this case's row (the file, its damage, the
    exit code, the message printed and what was checked to be preserved) to FILE as a JSON line:
    ``scripts/damaged_files_table.sh`` renders them into docs/damaged-files.md."""
    table = os.environ.get("METABNN_DAMAGE_TABLE")
    if table:
        row = {"file": file, "damage": damage, "exit": code, "preserved": preserved,
               "message": message.replace(str(tmp_path), "<tmp>")}
        with open(table, "a") as f:
            f.write(json.dumps(row) + "\n")


def _one_line_exit_2(argv: list[str], capsys, *fragments: str) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, (argv, captured)
    assert err.startswith("metabnn: error: ") and "\n" not in err, err
    assert "Traceback" not in captured.err + captured.out
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def _symlink_out(tmp_path: Path, name: str, content: bytes) -> Path:
    outside = tmp_path / "elsewhere"
    outside.mkdir(exist_ok=True)
    (outside / name).write_bytes(content)
    inside = tmp_path / "inside"
    inside.mkdir(exist_ok=True)
    (inside / name).symlink_to(outside / name)
    return inside / name


# -- the run registry ---------------------------------------------------------------------------

def _registry(path: Path) -> Path:
    db = RunRegistry(path)
    db.start("abc123abc123", {"strategy": "meta", "stream": {"name": "pmnist"}, "seed": 0})
    return path


def _damage_registry(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / "registry.sqlite"
    if kind == "random":
        path.write_bytes(RANDOM)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        _registry(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "newer-schema":
        _registry(path)
        with closing(sqlite3.connect(path)) as con:
            con.execute("PRAGMA user_version=99")
    elif kind == "another-program":
        with closing(sqlite3.connect(path)) as con:
            con.execute("CREATE TABLE users (name TEXT)")
            con.commit()
    elif kind == "symlink-out":
        return _symlink_out(tmp_path, "registry.sqlite", _registry(tmp_path / "r.sqlite")
                            .read_bytes())
    return path


@pytest.mark.parametrize(("kind", "says"), [
    ("random", "is not an SQLite database"),
    ("empty", "is empty (a truncated registry?)"),
    ("truncated", "is damaged"),
    ("newer-schema", "has schema version 99, newer than this metabnn's 1"),
    ("another-program", "is an SQLite database of another program (tables users)"),
    ("symlink-out", "outside its folder"),
])
def test_a_damaged_registry_is_refused_and_left_as_it_was(kind, says, tmp_path, capsys):
    path = _damage_registry(kind, tmp_path)
    before = _digest(path)
    err = _one_line_exit_2(["runs", "--registry", str(path)], capsys, str(path), says)
    assert _digest(path) == before  # never recreated, never written
    assert not Path(f"{path}-wal").exists()
    _table_row("run registry (`metabnn runs --registry`)", kind, 2, err,
               "the file, byte for byte; no -wal file", tmp_path)


def test_a_registry_that_cannot_be_written_is_named(tmp_path, capsys, data_root):
    path = _registry(tmp_path / "registry.sqlite")
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("no way to make a file read-only for this user here (chattr)")
    try:
        err = _one_line_exit_2(["run", *TINY, "--data-root", str(data_root), "--out",
                                str(tmp_path / "runs"), "--registry", str(path)], capsys,
                               str(path), "cannot be written")
        _table_row("run registry (`metabnn run --registry`)", "not writable (chattr +i)", 2,
                   err, "the registry, unchanged", tmp_path)
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# -- results files of done runs -----------------------------------------------------------------

@pytest.fixture()
def done_run(data_root, tmp_path):
    out = tmp_path / "runs"
    argv = ["run", *TINY, "--data-root", str(data_root), "--out", str(out)]
    assert main(argv) == 0
    (results,) = out.glob("*/results.json")
    return argv, results


@pytest.mark.parametrize(("kind", "says"), [
    ("truncated", "is not valid JSON"),
    ("empty", "is empty (truncated?)"),
    ("random", "is not a text file"),
    ("another-run", "is not run"),
    ("symlink-out", "outside its folder"),
])
def test_a_damaged_results_file_of_a_done_run_is_refused_not_overwritten(
        kind, says, done_run, tmp_path, capsys):
    argv, results = done_run
    capsys.readouterr()
    if kind == "truncated":
        results.write_bytes(results.read_bytes()[:200])
    elif kind == "empty":
        results.write_bytes(b"")
    elif kind == "random":
        results.write_bytes(RANDOM)
    elif kind == "another-run":
        body = json.loads(results.read_text())
        results.write_text(json.dumps({**body, "stamp": "ffffffffffff"}))
    elif kind == "symlink-out":
        target = tmp_path / "outside.json"
        target.write_bytes(results.read_bytes())
        results.unlink()
        results.symlink_to(target)
    before = _digest(results)
    err = _one_line_exit_2(argv, capsys, str(results), says)
    assert _digest(results) == before
    assert not (results.parent / "superseded").exists()
    _table_row("results.json of a done run (`metabnn run`, same config)", kind, 2, err,
               "the results file, byte for byte; nothing superseded", tmp_path)


# -- checkpoints --------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "says"), [
    ("empty", "is empty (truncated?)"),
    ("random", "refused"),
    ("truncated", "is unreadable"),
    ("another-run", "belongs to run"),
    ("symlink-out", "outside its folder"),
])
def test_a_damaged_checkpoint_is_refused(kind, says, data_root, tmp_path, capsys):
    import torch

    from metabnn.checkpoint import FORMAT, save_checkpoint
    from metabnn.config import RunConfig, from_dict, stamp
    from metabnn.runner import validate

    config = validate(from_dict(RunConfig, {
        "stream": {"tasks": 2, "train_per_task": 200, "test_per_task": 100},
        "model": {"hidden": [16]}, "train": {"epochs": 1}}))
    out = tmp_path / "runs"
    ckpt = out / stamp(config) / "checkpoint.pt"
    ckpt.parent.mkdir(parents=True)
    if kind == "empty":
        ckpt.write_bytes(b"")
    elif kind == "random":
        ckpt.write_bytes(RANDOM)
    elif kind == "truncated":
        torch.save({"format": FORMAT, "w": torch.zeros(1000)}, ckpt)
        ckpt.write_bytes(ckpt.read_bytes()[:300])
    elif kind == "another-run":
        save_checkpoint(ckpt, {"stamp": "ffffffffffff", "position": {"experience": 1,
                                                                     "epoch": 0}})
    elif kind == "symlink-out":
        save_checkpoint(tmp_path / "outside.pt", {"stamp": stamp(config)})
        ckpt.symlink_to(tmp_path / "outside.pt")
    before = _digest(ckpt)
    err = _one_line_exit_2(["run", *TINY, "--data-root", str(data_root), "--out", str(out),
                            "--resume"], capsys, str(ckpt), says)
    assert "move it aside" in err, err
    assert _digest(ckpt) == before
    _table_row("checkpoint.pt (`metabnn run --resume`)", kind, 2, err,
               "the checkpoint, byte for byte", tmp_path)


# -- sweep, recipe and config files -------------------------------------------------------------

SWEEP = "name: s\nbase: {stream: {tasks: 1}}\ngrid: {optim.meta: [0.0, 1.35]}\nseeds: [0]\n"


@pytest.mark.parametrize("command", ["sweep", "reproduce", "config"])
@pytest.mark.parametrize(("kind", "says"), [
    ("random", "is not a text file"),
    ("empty", "is empty"),
    ("truncated", "invalid YAML"),
    ("symlink-out", "outside its folder"),
])
def test_a_damaged_sweep_recipe_or_config_file_is_refused(command, kind, says, tmp_path, capsys):
    text = SWEEP if command != "reproduce" else (
        REPO / "metabnn/reproduce/recipes/01-fig2.yaml").read_text()
    if command == "config":
        text = "stream: {name: pmnist, tasks: 2}\nmodel: {hidden: [16]}\n"
    cut = text.index("sweep:") + 40 if command == "reproduce" else text.index("{") + 8
    content = {"random": RANDOM, "empty": b"", "truncated": text.encode()[:cut],
               "symlink-out": text.encode()}[kind]
    if kind == "symlink-out":
        path = _symlink_out(tmp_path, "file.yaml", content)
    else:
        path = tmp_path / "file.yaml"
        path.write_bytes(content)
    argv = {"sweep": ["sweep", str(path), "--out", str(tmp_path / "runs")],
            "reproduce": ["reproduce", str(path), "--out", str(tmp_path / "runs")],
            "config": ["run", "--config", str(path), "--out", str(tmp_path / "runs")]}[command]
    err = _one_line_exit_2(argv, capsys, str(path), says)
    assert not (tmp_path / "runs").exists()
    what = {"sweep": "sweep YAML (`metabnn sweep`)", "reproduce": "recipe YAML "
            "(`metabnn reproduce FILE`)", "config": "config YAML (`metabnn run --config`)"}
    _table_row(what[command], kind, 2, err, "nothing written (no runs folder made)", tmp_path)


# -- leaderboard submissions --------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "says"), [
    ("empty", "not UTF-8 JSON"),
    ("random", "not UTF-8 JSON"),
    ("truncated", "not UTF-8 JSON"),
    ("another-run", "is not the config's stamp"),
    ("old-schema", "fingerprint: missing"),
    ("symlink-out", "outside its folder"),
])
def test_a_damaged_submission_is_refused_with_exit_2(kind, says, done_run, tmp_path, capsys):
    _, results = done_run
    body = json.loads(results.read_text())
    path = tmp_path / "submission.json"
    content = {
        "empty": b"", "random": RANDOM, "truncated": results.read_bytes()[:300],
        "another-run": json.dumps({**body, "stamp": "ffffffffffff"}).encode(),
        "old-schema": json.dumps({k: v for k, v in body.items() if k != "fingerprint"}).encode(),
    }.get(kind)
    if kind == "symlink-out":
        path = _symlink_out(tmp_path, "submission.json", results.read_bytes())
    else:
        path.write_bytes(content)
    capsys.readouterr()
    before = _digest(path)
    assert main(["leaderboard", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"refused {path}: " in err and says in err and "Traceback" not in err
    assert _digest(path) == before
    _table_row("leaderboard submission (`metabnn leaderboard check`)", kind, 2, err.strip(),
               "the submitted file, unchanged; nothing enters the board", tmp_path)


# -- a full disk --------------------------------------------------------------------------------

@pytest.mark.slow  # ~60 s: two 60-task runs (a results file larger than the limit)
def test_a_full_disk_while_writing_results_leaves_the_previous_file_intact(data_root, tmp_path):
    """A 60-task run writes a results file of ~100 kB; forced again in a process whose files
    may not grow past 48 kB (a real ``RLIMIT_FSIZE``: the write fails with EFBIG, as on a full
    disk; the registry and config files stay under it), the run fails in one line and the
    previous results file is byte for byte what it was."""
    argv = ["run", "--tasks", "60", "--hidden", "8", "--epochs", "1", "--train-per-task", "100",
            "--test-per-task", "50", "--checkpoint-every", "0", "--no-progress", "--wandb",
            "disabled", "--data-root", str(data_root), "--out", str(tmp_path / "runs")]
    assert main(argv) == 0
    (results,) = (tmp_path / "runs").glob("*/results.json")
    assert results.stat().st_size > 64_000
    before = _digest(results)
    limit = 48_000
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "metabnn.cli", *argv, "--force"], env=env, capture_output=True,
        text=True, timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "File too large" in lines[0] and "nothing was overwritten" in \
        lines[0] and str(results) in lines[0], done.stderr
    assert _digest(results) == before
    assert not list(results.parent.glob(".results.json.*.tmp"))  # no half-written file left
    _table_row("results.json while written (`metabnn run --force`)",
               f"full disk (RLIMIT_FSIZE {limit} bytes)", done.returncode, lines[0],
               "the previous results file, byte for byte; no temporary file left", tmp_path)
