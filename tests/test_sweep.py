"""Sweeps: grid expansion, a local process-pool sweep, a Ray sweep on a local Ray instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metabnn.cli import main
from metabnn.config import ConfigError
from metabnn.runner import validate
from metabnn.runs import RunRegistry
from metabnn.sweep import SweepSpec, expand, load_sweep, run_sweep
from metabnn.threads import usable_cpus

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "stream": {"name": "pmnist", "tasks": 2, "scenario": "task", "train_per_task": 500,
               "test_per_task": 200},
    "model": {"name": "bnn", "hidden": [32]},
    "train": {"epochs": 1},
}


def tiny(name: str, grid: dict, seeds=(0, 1), base: dict | None = None) -> SweepSpec:
    return SweepSpec(name=name, base=base or TINY, seeds=tuple(seeds),
                     grid=tuple((k, tuple(v)) for k, v in grid.items()))


def test_expand_is_the_grid_product_times_seeds_in_file_order():
    runs = expand(tiny("t", {"strategy": ["meta", "naive"], "optim.meta": [0.0, 1.35]}))
    assert [r.point for r in runs] == [
        {"strategy": s, "optim.meta": m, "seed": k}
        for s in ("meta", "naive") for m in (0.0, 1.35) for k in (0, 1)]
    assert runs[3].config.strategy == "meta" and runs[3].config.optim.meta == 1.35
    assert runs[3].config.seed == 1 and runs[3].config.stream.train_per_task == 500
    assert len({r.stamp for r in runs}) == 8
    # a repeated grid value is the same run: one stamp, run once
    assert len(expand(tiny("t", {"optim.meta": [1.0, 1.0]}, seeds=[0]))) == 1


def test_bad_sweeps_fail_before_any_run(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key optim.mta"):
        expand(tiny("t", {"optim.mta": [1.0]}))
    with pytest.raises(Exception, match="unknown strategy 'nope'"):
        expand(tiny("t", {"strategy": ["meta", "nope"]}), validate)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngrid: {optim.meta: 1.0}\n")
    with pytest.raises(ConfigError, match="grid must map dotted keys to non-empty lists"):
        load_sweep(bad)
    bad.write_text("name: x\ngirdd: {}\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        load_sweep(bad)


def test_shipped_examples_expand_to_distinct_experiments(capsys):
    spec = load_sweep(REPO / "examples" / "sweeps" / "pmnist-small.yaml")
    runs = expand(spec, validate)
    assert len(runs) == 6 and {r.config.strategy for r in runs} == {"meta"}
    assert {r.config.optim.meta for r in runs} == {0.0, 0.5, 1.35}
    assert {r.config.seed for r in runs} == {0, 1}
    runs = expand(load_sweep(REPO / "examples" / "sweeps" / "three-strategies.yaml"), validate)
    # m is dropped (to 0) for the strategies that do not read it: what they train with
    assert sorted((r.config.strategy, r.config.optim.meta) for r in runs if r.config.seed == 0
                  ) == [("ewc", 0.0), ("meta", 1.35), ("naive", 0.0)]
    assert len({r.stamp for r in runs}) == 6


@pytest.fixture(scope="module")
def local_sweep(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    lines: list[str] = []
    spec = tiny("six", {"optim.meta": [0.0, 1.35, 3.0]})
    summary = run_sweep(spec, backend="local", workers=2, out_dir=out, data_root=data_root,
                        log=lines.append)
    return spec, summary, out, lines


def test_local_sweep_of_six_with_two_workers_records_six(local_sweep):
    spec, summary, out, lines = local_sweep
    assert summary["ran"] == 6 and summary["done"] == 6 and summary["failed"] == 0
    db = RunRegistry(out / "registry.sqlite")
    rows = db.list(sweep="six")
    assert len(rows) == 6 and {r["status"] for r in rows} == {"done"}
    assert {r["stamp"] for r in rows} == {r.stamp for r in expand(spec, validate)}
    assert len({r["host"] for r in rows}) == 1 and len(lines) == 1 + 6  # header + one per run
    for r in rows:  # each run folder: results, figures, the run's own log
        folder = out / r["stamp"]
        for name in ("results.json", "forgetting_curves.png", "forgetting_curves.svg",
                     "accuracy_matrix.png", "accuracy_matrix.svg", "log.txt"):
            assert (folder / name).exists(), name
    # the sweep figure and its table: mean +- std over the 2 seeds of each m
    assert Path(summary["figure"]).exists() and Path(summary["csv"]).exists()
    assert [(s["optim.meta"], s["n"]) for s in summary["summary"]] == [(0.0, 2), (1.35, 2),
                                                                       (3.0, 2)]


def test_rerun_skips_done_and_failures_are_recorded_while_the_sweep_goes_on(local_sweep,
                                                                            data_root, capsys):
    spec, _, out, _ = local_sweep
    again = run_sweep(spec, workers=2, out_dir=out, data_root=data_root, log=lambda s: None)
    assert (again["ran"], again["skipped"], again["registry"]["done"]) == (0, 6, 6)
    # one more point that fails at run time (a test set of one image: BatchNorm cannot use
    # batch statistics of one sample) next to one already done
    mixed = tiny("mixed", {"stream.test_per_task": [200, 1]}, seeds=[0],
                 base={**TINY, "optim": {"meta": 0.0}})
    lines: list[str] = []
    summary = run_sweep(mixed, workers=2, out_dir=out, data_root=data_root, log=lines.append)
    assert (summary["ran"], summary["failed"], summary["skipped"]) == (1, 1, 1)
    failed = RunRegistry(out / "registry.sqlite").list(status="failed")
    assert len(failed) == 1 and "Expected more than 1 value per channel" in failed[0]["error"]
    assert any(" failed " in s and "ValueError" in s for s in lines)
    # rerunning would run exactly the failed one again
    yaml = out / "mixed.yaml"
    yaml.write_text(
        "name: mixed\nbase: {stream: {name: pmnist, tasks: 2, scenario: task, train_per_task: "
        "500}, model: {name: bnn, hidden: [32]}, train: {epochs: 1}, optim: {meta: 0.0}}\n"
        "grid: {stream.test_per_task: [200, 1]}\nseeds: [0]\n")
    assert main(["sweep", str(yaml), "--dry-run", "--out", str(out), "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "done" in printed and "failed" in printed and "2 runs, 1 to run" in printed
    # one worker computes on every usable CPU, two on half of them each: with 2 or more CPUs
    # that is another code fingerprint, so the done run is stale and would rerun (--allow-stale
    # reuses it); with one (a job pinned to a core) both compute on one thread: nothing is stale
    assert main(["sweep", str(yaml), "--dry-run", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    if usable_cpus() >= 2:
        assert "stale" in printed and "2 runs, 2 to run" in printed
    else:
        assert "stale" not in printed and "2 runs, 1 to run" in printed
    assert main(["sweep", str(yaml), "--dry-run", "--out", str(out), "--allow-stale"]) == 0
    assert "2 runs, 1 to run" in capsys.readouterr().out


@pytest.mark.slow  # ~30 s: starting Ray and its workers' torch imports
def test_ray_sweep_of_four_on_a_local_ray_records_four(data_root, tmp_path):
    pytest.importorskip("ray", reason="the ray extra: pip install -e '.[ray]'")
    spec = tiny("ray4", {"optim.meta": [0.0, 1.35]})
    summary = run_sweep(spec, backend="ray", workers=2, out_dir=tmp_path, data_root=data_root,
                        log=lambda s: None)
    assert (summary["ran"], summary["done"], summary["failed"]) == (4, 4, 0)
    rows = RunRegistry(tmp_path / "registry.sqlite").list(sweep="ray4")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"done"}
    assert all((tmp_path / r["stamp"] / "accuracy_matrix.png").exists() for r in rows)
    assert Path(summary["figure"]).exists()


def test_batched_seeds_train_a_points_seeds_as_one_model_where_the_strategy_allows(
        data_root, tmp_path):
    """With batched seeds, meta's two seeds are one batched run (each still its own results
    file and registry row); naive, which the batched trainer does not cover, runs as usual."""
    spec = tiny("batched", {"strategy": ["meta", "naive"]})
    summary = run_sweep(spec, workers=1, out_dir=tmp_path, data_root=data_root,
                        batched_seeds=True, log=lambda s: None)
    assert summary["done"] == 4 and summary["failed"] == 0
    for r in expand(spec, validate):
        body = json.loads((tmp_path / r.stamp / "results.json").read_text())
        if r.point["strategy"] == "meta":
            assert body["batched"]["seeds"] == [0, 1]
        else:
            assert "batched" not in body
    lines: list[str] = []
    again = run_sweep(spec, workers=1, out_dir=tmp_path, data_root=data_root,
                      batched_seeds=True, log=lines.append)
    assert again["ran"] == 0 and again["skipped"] == 4
    assert "4 runs, 4 already done by this code, running 0" in lines[0]


def _pool(tmp_path, workers: int, kill: list[str], once: bool):
    """The local pool on 6 stand-in runs (m in {0, 1.35} x seeds 0, 1, 2; tests/pool_tasks.py)."""
    import pool_tasks

    from metabnn.sweep import _run_local

    runs = expand(tiny("pool", {"optim.meta": [0.0, 1.35]}, seeds=(0, 1, 2)), validate)
    db = RunRegistry(tmp_path / "registry.sqlite")
    reported, lines = [], []
    _run_local(runs, {"out_dir": str(tmp_path), "kill": kill, "once": once}, workers, db,
               lambda r, o: reported.append((r, o)), log=lines.append, task=pool_tasks.killed)
    return runs, db, reported, lines


def test_a_worker_killed_from_outside_reruns_what_it_took_down_with_one_worker_fewer(tmp_path):
    # seed 1 at m = 0 kills its worker once (as the out-of-memory killer would): the broken
    # pool's runs go again with one worker, each run reported once, all done, and every run
    # keeps the thread count it was planned with (part of its fingerprint)
    runs, _, reported, lines = _pool(tmp_path, workers=2, kill=["1-0.0"], once=True)
    assert sorted(r.stamp for r, _ in reported) == sorted(r.stamp for r in runs)
    assert {o["status"] for _, o in reported} == {"done"}
    assert {o["threads"] for _, o in reported} == {1}
    assert len(lines) == 1 and "worker process was killed (out of memory?" in lines[0]
    assert lines[0].endswith("go again with 1 worker(s) at a time")
    # the killed run ran again, in another process than the one it killed
    assert len(list((tmp_path / "calls").glob("1-0.0-*"))) == 2


def test_a_run_that_kills_its_worker_alone_fails_with_its_cause_and_the_rest_go_on(tmp_path):
    # seed 1's runs kill their worker every time: after one step down to a single worker,
    # each fails alone with its cause named, and every other run is done
    runs, _, reported, lines = _pool(tmp_path, workers=2, kill=["1-0.0", "1-1.35"],
                                      once=False)
    failed = sorted(r.stamp for r, o in reported if o["status"] == "failed")
    assert failed == sorted(r.stamp for r in runs if r.config.seed == 1)
    assert sorted(r.stamp for r, o in reported if o["status"] == "done") == sorted(
        r.stamp for r in runs if r.config.seed != 1)
    assert len(reported) == 6 and len(lines) == 1
    for _, o in reported:
        if o["status"] == "failed":
            assert o["error"].startswith("worker died: killed from outside while it ran alone "
                                         "(out of memory?")
