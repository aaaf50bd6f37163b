"""The run registry: rows, concurrency, and how runner.run uses it (skip done, record failures)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from metabnn.cli import main
from metabnn.config import RunConfig, from_dict, stamp
from metabnn.runner import run, validate
from metabnn.runs import RunRegistry, format_runs

TINY = {
    "stream": {"name": "pmnist", "tasks": 2, "scenario": "task", "train_per_task": 500,
               "test_per_task": 200},
    "model": {"name": "bnn", "hidden": [32]},
    "train": {"epochs": 1},
}
RESULTS = {"metrics": {"average_accuracy": 0.5}, "path": "/x/results.json", "wall_time_s": 1.5,
           "versions": {"torch": "2"}, "git_commit": "abc", "device": "cpu"}


def test_lifecycle_running_done_failed(tmp_path):
    db = RunRegistry(tmp_path / "r.sqlite")
    db.start("aaaa00000001", {"strategy": "meta", "stream": {"name": "pmnist"}, "seed": 3})
    assert db.status("aaaa00000001") == "running" and not db.is_done("aaaa00000001")
    db.finish("aaaa00000001", RESULTS)
    row = db.get("aaaa00000001")
    assert row["status"] == "done" and row["metrics"] == {"average_accuracy": 0.5}
    assert (row["strategy"], row["stream"], row["seed"]) == ("meta", "pmnist", 3)
    assert row["versions"] == {"torch": "2"} and row["device"] == "cpu"
    assert row["started_at"] <= row["finished_at"] and row["attempts"] == 1

    db.start("aaaa00000002", {"strategy": "naive"})
    db.fail("aaaa00000002", "ValueError: boom\ntraceback...")
    assert db.get("aaaa00000002")["error"].startswith("ValueError: boom")
    db.start("aaaa00000002", {"strategy": "naive"})  # a rerun clears the error
    row = db.get("aaaa00000002")
    assert row["status"] == "running" and row["error"] is None and row["attempts"] == 2

    assert db.counts() == {"running": 1, "done": 1, "failed": 0}
    assert [r["stamp"] for r in db.list(strategy="meta")] == ["aaaa00000001"]
    with pytest.raises(KeyError, match="matches 2 runs"):
        db.get("aaaa")
    assert db.get("aaaa00000002")["stamp"] == "aaaa00000002"
    assert db.get("ffff") is None
    with pytest.raises(ValueError, match="cannot filter"):
        db.list(colour="red")
    assert "aaaa00000001  done" in format_runs(db.list())


def _writer(path: str, worker: int, n: int) -> None:
    db = RunRegistry(path, timeout_s=60)
    for i in range(n):
        s = f"{worker:04d}{i:08d}"
        db.start(s, {"strategy": "meta", "seed": i})
        db.finish(s, RESULTS)


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "r.sqlite")
    RunRegistry(path)
    ctx = multiprocessing.get_context("fork")  # the children only touch sqlite
    procs = [ctx.Process(target=_writer, args=(path, w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert RunRegistry(path).counts() == {"running": 0, "done": 100, "failed": 0}
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_write_waits_for_a_held_lock_then_succeeds(tmp_path):
    db = RunRegistry(tmp_path / "r.sqlite", timeout_s=20)
    db.start("bbbb00000001", {})
    holder = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock for 1.5 s
    threading.Timer(1.5, lambda: holder.execute("COMMIT")).start()
    t0 = time.monotonic()
    db.finish("bbbb00000001", RESULTS)  # sqlite's own 5 s busy timeout or our retries
    assert time.monotonic() - t0 >= 1.0 and db.is_done("bbbb00000001")
    holder.close()


def test_runner_records_skips_done_and_forces(data_root, tmp_path):
    config = validate(from_dict(RunConfig, TINY))  # resolved: its stamp is the run's
    quiet = {"data_root": data_root, "out_dir": tmp_path, "progress": False, "log": lambda s: None}
    first = run(config, **quiet)
    db = RunRegistry(tmp_path / "registry.sqlite")  # the default: <out>/registry.sqlite
    row = db.get(stamp(config))
    assert row["status"] == "done" and row["results_path"] == first["path"]
    assert row["metrics"]["average_accuracy"] == first["metrics"]["average_accuracy"]
    assert row["git_commit"] == first["git_commit"] and row["config"]["seed"] == 0

    lines: list[str] = []
    again = run(config, **{**quiet, "log": lines.append})
    assert again["skipped"] is True and again["accuracy_matrix"] == first["accuracy_matrix"]
    assert "already done by this code, skipped" in lines[0] and len(lines) == 1  # no training
    assert f"fingerprint {first['fingerprint']['id']}" in lines[0]  # its own provenance
    assert db.get(stamp(config))["attempts"] == 1

    forced = run(config, **quiet, force=True)
    assert "skipped" not in forced and db.get(stamp(config))["attempts"] == 2
    assert forced["accuracy_matrix"] == first["accuracy_matrix"]  # same seed, same numbers


def test_runner_records_a_failure_with_its_error(tmp_path, data_root, monkeypatch):
    from metabnn.strategies import MetaplasticStrategy

    config = validate(from_dict(RunConfig, TINY))
    # bad input (a missing data root) is refused before anything is recorded (issue 8)
    with pytest.raises(Exception, match="METABNN_DATA"):
        run(config, data_root=tmp_path / "no-data", out_dir=tmp_path / "other", progress=False,
            log=lambda s: None)
    assert not (tmp_path / "other").exists()

    def boom(self, *args, **kwargs):
        raise RuntimeError("boom in training")

    monkeypatch.setattr(MetaplasticStrategy, "train", boom)
    with pytest.raises(RuntimeError, match="boom in training"):
        run(config, data_root=data_root, out_dir=tmp_path, progress=False, log=lambda s: None)
    row = RunRegistry(tmp_path / "registry.sqlite").get(stamp(config))
    assert row["status"] == "failed" and row["finished_at"]
    assert row["error"].startswith("RuntimeError: boom in training") and "Traceback" in row["error"]


def test_cli_runs_list_and_show(tmp_path, capsys):
    db = RunRegistry(tmp_path / "registry.sqlite")
    db.start("cccc00000001", {"strategy": "meta", "stream": {"name": "pmnist"}, "seed": 0,
                              "optim": {"meta": 1.35}})
    db.finish("cccc00000001", RESULTS)
    db.start("dddd00000001", {"strategy": "naive", "stream": {"name": "pmnist"}, "seed": 1})
    db.fail("dddd00000001", "RuntimeError: out of memory")
    assert main(["runs", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "cccc00000001  done" in out and "50.00%" in out and "1.35" in out
    assert "2 runs: 1 done, 1 failed, 0 running" in out
    assert main(["runs", "--out", str(tmp_path), "--status", "failed"]) == 0
    out = capsys.readouterr().out
    assert "dddd00000001" in out and "cccc00000001" not in out
    assert main(["runs", "--registry", str(db.path), "show", "dddd"]) == 0
    out = capsys.readouterr().out
    assert "status: failed" in out and "error:\nRuntimeError: out of memory" in out
    assert main(["runs", "--out", str(tmp_path / "none")]) == 2


# The tests below were added for survivors of the mutation run (scripts/mutation.sh).


def test_the_text_table_golden():
    """Every column, truncation at 10 / 12 characters, the stream-learning accuracy, blanks."""
    rows = [
        {"stamp": "cccc00000001", "status": "done", "strategy": "meta", "stream": "pmnist",
         "config": {"optim": {"meta": 1.35}}, "seed": 0, "metrics": {"average_accuracy": 0.5},
         "wall_time_s": 91.6, "finished_at": "2026-12-02T10:00:00+00:00",
         "fingerprint": "bd8e366710c0", "sweep": "s1"},
        {"stamp": "dddd00000001", "status": "failed", "strategy": "random-consolidation",
         "stream": "stream-fmnist-long", "config": {}, "seed": None,
         "metrics": {"final_accuracy": 0.25}, "wall_time_s": None, "finished_at": None,
         "fingerprint": None, "sweep": None},
    ]
    head = ("stamp         status   strategy    stream            m  seed  accuracy    wall  "
            "finished (UTC)       code          sweep")
    assert format_runs(rows).split("\n") == [
        head, "-" * len(head),
        "cccc00000001  done     meta        pmnist         1.35     0    50.00%     92s  "
        "2026-12-02T10:00:00  bd8e366710c0  s1",
        "dddd00000001  failed   random-con  stream-fmnis                 25.00%        "
        "                                     ",
    ]


def test_one_run_in_full_golden():
    from metabnn.runs import format_run

    row = {"stamp": "cccc", "seed": None,
           "config": {"optim": {}, "model": {"name": "bnn", "hidden": [4, 4]}},
           "error": "  RuntimeError: boom\n  at line 3\n\n", "metrics": {}}
    assert format_run(row) == (
        'stamp: cccc\nseed: \nconfig.model.hidden: [4, 4]\nconfig.model.name: "bnn"\n'
        "config.optim: {}\nerror:\n  RuntimeError: boom\n  at line 3\nmetrics: {}")


def test_registry_path_from_the_environment(monkeypatch, tmp_path):
    from metabnn.runs import default_registry_path

    monkeypatch.delenv("METABNN_REGISTRY", raising=False)
    assert default_registry_path() == Path("runs/registry.sqlite")
    assert default_registry_path(tmp_path) == tmp_path / "registry.sqlite"
    monkeypatch.setenv("METABNN_REGISTRY", str(tmp_path / "elsewhere.sqlite"))
    assert default_registry_path(tmp_path) == tmp_path / "elsewhere.sqlite"


def test_times_are_utc_and_a_new_registry_has_its_schema_version(tmp_path):
    from metabnn.runs import SCHEMA_VERSION, _now

    assert _now().endswith("+00:00")
    db = RunRegistry(tmp_path / "new" / "deeper" / "r.sqlite")  # folders created
    with sqlite3.connect(db.path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_runs_table_without_metabnns_columns_is_refused(tmp_path):
    from metabnn.files import DamagedFileError

    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE runs (id INTEGER)")
    with pytest.raises(DamagedFileError, match="its runs table lacks config, stamp, status"):
        RunRegistry(path)


def test_the_owner_of_a_claim_is_read_right(monkeypatch):
    """host:pid with colons in the host; a pid that is not a number; another host's heartbeat;
    a live local process is probed with signal 0 and left running."""
    import signal
    import socket
    import subprocess

    from metabnn.runs import _alive

    now = time.time()
    assert _alive("node:a:b:123", now, 60.0)  # another host, fresh heartbeat
    assert not _alive("node:a:b:123", now - 120, 60.0)
    assert not _alive("node:abc", now, 60.0)
    assert not _alive(None, now, 60.0)
    # SIGHUP restored: under nohup the sleeper would ignore any probe but signal 0's
    sleeper = subprocess.Popen(["sleep", "30"],
                               preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        assert _alive(f"{socket.gethostname()}:{sleeper.pid}", None, 60.0)
        time.sleep(0.1)
        assert sleeper.poll() is None  # signal 0 only asks
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not _alive(f"{socket.gethostname()}:{sleeper.pid}", None, 60.0)


def test_a_claim_held_by_a_live_other_host_is_refused_and_sweeps_are_kept(tmp_path):
    db = RunRegistry(tmp_path / "r.sqlite")
    assert db.claim("eeee00000001", {"strategy": "meta"}, sweep="grid-a") == (True, None)
    assert db.get("eeee00000001")["sweep"] == "grid-a"
    with sqlite3.connect(db.path) as con:  # another host has it, heartbeat fresh
        con.execute("UPDATE runs SET owner='far-node:42', heartbeat_at=? WHERE stamp=?",
                    (time.time(), "eeee00000001"))
    assert db.claim("eeee00000001", {"strategy": "meta"}) == (False, "running")
    with sqlite3.connect(db.path) as con:  # ... and its heartbeat stopped two hours ago
        con.execute("UPDATE runs SET heartbeat_at=? WHERE stamp=?",
                    (time.time() - 7200, "eeee00000001"))
    assert db.claim("eeee00000001", {"strategy": "meta"}) == (True, "running")
    db.start("eeee00000002", {"strategy": "meta"}, sweep="grid-b")
    assert db.get("eeee00000002")["sweep"] == "grid-b"


def test_finish_records_the_provenance_columns(tmp_path):
    db = RunRegistry(tmp_path / "r.sqlite")
    db.start("ffff00000001", {"strategy": "meta"})
    db.finish("ffff00000001", {**RESULTS, "fingerprint": {"id": "bd8e366710c0"}})
    row = db.get("ffff00000001")
    assert (row["git_commit"], row["wall_time_s"], row["fingerprint"]) == (
        "abc", 1.5, "bd8e366710c0")
    assert db.is_current("ffff00000001", "bd8e366710c0")


def test_wildcards_in_a_prefix_match_nothing_and_filters_combine(tmp_path):
    db = RunRegistry(tmp_path / "r.sqlite")
    for i, (strategy, seed) in enumerate([("meta", 0), ("meta", 1), ("naive", 1)]):
        db.start(f"abcd0000000{i}", {"strategy": strategy, "seed": seed})
    # a stamp prefix is literal: SQL's wildcards are dropped, not obeyed
    assert db.get("abcd%1") is None
    assert db.get("abcd0000000_2")["stamp"] == db.get("abcd0000000%2")["stamp"] == "abcd00000002"
    assert [r["stamp"] for r in db.list(seed=1)] == ["abcd00000001", "abcd00000002"]
    assert [r["stamp"] for r in db.list(strategy="meta", seed=1)] == ["abcd00000001"]


def test_retry_waits_out_a_busy_database_then_gives_up(tmp_path):
    db = RunRegistry(tmp_path / "r.sqlite", timeout_s=0.3)
    attempts = []

    def locked_twice():
        attempts.append(1)
        if len(attempts) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "ok"

    assert db._retry(locked_twice) == "ok" and len(attempts) == 3

    def always_locked():
        raise sqlite3.OperationalError("database is locked")

    t0 = time.monotonic()
    with pytest.raises(sqlite3.OperationalError):
        db._retry(always_locked)
    assert 0.3 <= time.monotonic() - t0 < 2.0


def test_a_running_row_without_metrics_shows_blanks():
    row = {"stamp": "eeee00000001", "status": "running", "strategy": "meta", "stream": "pmnist",
           "config": None, "seed": 2, "metrics": None, "wall_time_s": None, "finished_at": None,
           "fingerprint": None, "sweep": None}
    assert format_runs([row]).split("\n")[2] == (
        "eeee00000001  running  meta        pmnist                  2" + " " * 55)


def test_only_a_done_run_of_this_code_is_current(tmp_path):
    db = RunRegistry(tmp_path / "r.sqlite")
    db.start("abab00000001", {"strategy": "meta"})
    assert not db.is_current("abab00000001", None)  # running, no fingerprint yet
    db.finish("abab00000001", {**RESULTS, "fingerprint": {"id": "aaa"}})
    assert db.is_current("abab00000001", "aaa")
    assert not db.is_current("abab00000001", "bbb")  # done by other code
    assert not db.is_current("abab", "aaa")  # a prefix names no run
    assert not db.is_current("cdcd00000001", None)


def test_retry_backs_off_on_busy_and_locked_only(tmp_path, monkeypatch):
    import metabnn.runs as runs

    sleeps = []
    monkeypatch.setattr(runs.time, "sleep", sleeps.append)
    db = RunRegistry(tmp_path / "r.sqlite", timeout_s=60)
    errors = ["database is busy", "database is locked"] * 4

    def flaky():
        if errors:
            raise sqlite3.OperationalError(errors.pop())
        return "ok"

    assert db._retry(flaky) == "ok"
    assert sleeps == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    attempts = []

    def broken():
        attempts.append(1)
        raise sqlite3.OperationalError("no such table: runs")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db._retry(broken)
    assert attempts == [1]  # not a lock: no retry


def test_a_claim_is_stale_after_an_hour_without_heartbeat(tmp_path):
    db = RunRegistry(tmp_path / "r.sqlite")
    db.claim("fafa00000001", {"strategy": "meta"})
    with sqlite3.connect(db.path) as con:
        con.execute("UPDATE runs SET owner='far-node:42', heartbeat_at=? WHERE stamp=?",
                    (time.time() - 3600.5, "fafa00000001"))
    assert db.claim("fafa00000001", {"strategy": "meta"}) == (True, "running")


def test_a_registry_symlinked_out_of_its_folder_is_refused_by_name(tmp_path):
    from metabnn.files import DamagedFileError

    outside = tmp_path / "elsewhere" / "r.sqlite"
    RunRegistry(outside)
    (tmp_path / "runs").mkdir()
    link = tmp_path / "runs" / "registry.sqlite"
    link.symlink_to(outside)
    with pytest.raises(DamagedFileError, match="^run registry "):
        RunRegistry(link)
