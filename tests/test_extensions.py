"""A strategy and a stream of a user's own, from a separately installed package (entry points)
or named at run time, run by `metabnn run` and `metabnn sweep`; a change to the user's code
changes the code fingerprint, so the run is done again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = ["--tasks", "2", "--stream-param", "angles=[0, 30]", "--hidden", "16", "--epochs", "1",
        "--train-per-task", "300", "--test-per-task", "100", "--no-progress", "--wandb",
        "disabled"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """examples/plugin installed as a package of its own (pip, into a folder of its own)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(REPO / "examples" / "plugin")], check=True,
                   capture_output=True)
    return target


def _cli(*argv: str, pythonpath: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "WANDB_MODE": "disabled"}
    env.pop("METABNN_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "metabnn.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # ~90 s: pip installs the package; five commands in fresh processes
def test_an_installed_package_runs_in_run_and_sweep_and_its_code_is_fingerprinted(
        site, data_root, tmp_path):
    data = ["--data-root", str(Path(data_root).resolve())]
    listed = _cli("list", "strategies", pythonpath=site, cwd=tmp_path)
    assert "l2-anchor  —  " in listed.stdout and "--param l2_lambda" in listed.stdout
    first = _cli("run", "--stream", "rotated-mnist", "--strategy", "l2-anchor",
                 "--param", "l2_lambda=5", *TINY, *data, pythonpath=site, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (path,) = (tmp_path / "runs").glob("*/results.json")
    results = json.loads(path.read_text())
    assert results["config"]["stream"]["params"] == {"angles": [0.0, 30.0]}
    assert results["config"]["params"]["l2_lambda"] == 5.0
    assert results["fingerprint"]["plugins"]  # the user's sources are part of it
    again = _cli("run", "--stream", "rotated-mnist", "--strategy", "l2-anchor",
                 "--param", "l2_lambda=5", *TINY, *data, pythonpath=site, cwd=tmp_path)
    assert "already done by this code" in again.stdout
    with open(site / "metabnn_example" / "l2_anchor.py", "a") as fh:
        fh.write("# the user changed their strategy\n")
    changed = _cli("run", "--stream", "rotated-mnist", "--strategy", "l2-anchor",
                   "--param", "l2_lambda=5", *TINY, *data, pythonpath=site, cwd=tmp_path)
    assert "done by other code (plugins): rerunning" in changed.stdout, changed.stdout
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "name: user\nbase: {strategy: l2-anchor, stream: {name: rotated-mnist, tasks: 2, "
        "params: {angles: [0, 30]}, train_per_task: 300, test_per_task: 100}, model: "
        "{hidden: [16]}, train: {epochs: 1}}\ngrid: {params.l2_lambda: [0.0, 5.0]}\n"
        "seeds: [0]\n")
    swept = _cli("sweep", str(sweep), "--workers", "1", *data, pythonpath=site, cwd=tmp_path)
    assert swept.returncode == 0, swept.stderr
    assert "2 runs: 1 ran (1 done, 0 failed), 1 skipped as done" in swept.stdout, swept.stdout


@pytest.mark.slow  # ~40 s: three commands in fresh processes
def test_a_module_named_at_run_time_and_bad_stream_parameters(data_root, tmp_path):
    module = tmp_path / "mine.py"
    module.write_text((REPO / "examples/plugin/metabnn_example/l2_anchor.py").read_text()
                      .replace('"l2-anchor"', '"my-anchor"'))
    done = _cli("--plugins", str(module), "run", "--strategy", "my-anchor", "--tasks", "2",
                "--hidden", "16", "--epochs", "1", "--train-per-task", "200",
                "--test-per-task", "100", "--no-progress", "--data-root",
                str(Path(data_root).resolve()), pythonpath=REPO, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    bad = _cli("--plugins", "metabnn_example", "run", "--stream", "rotated-mnist",
               "--stream-param", "angle=3", "--data-root", str(Path(data_root).resolve()),
               pythonpath=REPO / "examples" / "plugin", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "metabnn: error: stream.params.angle is invalid: stream 'rotated-mnist' has no such "
        "parameter (its parameters: angles)")
    missing = _cli("--plugins", "no_such_module", "list", "streams", pythonpath=REPO,
                   cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip().startswith(
        "metabnn: error: extension 'no_such_module' failed to import: ModuleNotFoundError")


def test_the_installed_packages_entry_points_are_read_once_per_process(monkeypatch):
    from importlib import metadata

    from metabnn import extensions

    calls = []
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points", lambda **kw: calls.append(kw) or real(**kw))
    extensions._entry_point_modules.cache_clear()
    for _ in range(3):
        extensions.load()
    assert calls == [{"group": extensions.GROUP}]
    extensions._entry_point_modules.cache_clear()  # the next test reads them afresh
