"""The run registry under concurrent writers: nothing lost, nothing duplicated, no stamp run
twice.

8 processes start together (a barrier) and hammer one SQLite file:

* each records 50 runs of its own (running -> done): exactly 400 rows, all done, 1 attempt each;
* all 8 race to :meth:`RunRegistry.claim` the same 50 stamps: each stamp is won by exactly one
  process (two sweep invocations never run one stamp twice);
* a stamp held by a live process is refused, one held by a dead process is claimed again.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from metabnn.runs import RunRegistry

WORKERS, RECORDS = 8, 50


def _config(i: int) -> dict:
    return {"strategy": "meta", "seed": i, "stream": {"name": "pmnist"}}


def _record(path: str, worker: int, barrier, queue) -> None:
    db = RunRegistry(path)
    barrier.wait()
    for i in range(RECORDS):
        s = f"w{worker}-r{i:03d}"
        db.start(s, _config(i))
        db.finish(s, {"metrics": {"average_accuracy": worker + i / 100}, "path": f"/x/{s}",
                      "wall_time_s": 1.0})
    queue.put(worker)


def _claim(path: str, worker: int, barrier, queue) -> None:
    db = RunRegistry(path)
    stamps = [f"shared-{i:03d}" for i in range(RECORDS)]
    random.Random(worker).shuffle(stamps)
    barrier.wait()
    won = []
    for s in stamps:
        claimed, _ = db.claim(s, _config(0))
        if claimed:
            won.append(s)  # this process now runs s; it stays running (owner alive)
    queue.put((worker, won))
    barrier.wait()  # every claimant alive until all have tried


def _processes(target, path: str):
    ctx = mp.get_context("fork" if sys.platform == "linux" else "spawn")
    barrier, queue = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=target, args=(path, w, barrier, queue)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    out = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    return out


def test_8_processes_x_50_records_gives_exactly_400(tmp_path):
    path = str(tmp_path / "registry.sqlite")
    RunRegistry(path)
    assert sorted(_processes(_record, path)) == list(range(WORKERS))
    rows = RunRegistry(path).list()
    stamps = [r["stamp"] for r in rows]
    print(f"\n{WORKERS} processes x {RECORDS} records: {len(rows)} recorded, "
          f"{len(stamps) - len(set(stamps)) + sum(r['attempts'] - 1 for r in rows)} duplicated")
    assert len(rows) == WORKERS * RECORDS == 400
    assert len(set(stamps)) == 400  # none duplicated
    assert {r["status"] for r in rows} == {"done"}
    assert {r["attempts"] for r in rows} == {1}
    assert RunRegistry(path).counts() == {"running": 0, "done": 400, "failed": 0}


def test_racing_claims_run_each_stamp_once(tmp_path):
    path = str(tmp_path / "registry.sqlite")
    RunRegistry(path)
    results = _processes(_claim, path)
    won = [s for _, stamps in results for s in stamps]
    print(f"\n{WORKERS} processes racing for {RECORDS} stamps: {len(won)} claims won, "
          f"{len(won) - len(set(won))} stamps claimed twice")
    assert len(won) == RECORDS and len(set(won)) == RECORDS  # each stamp by exactly one
    rows = RunRegistry(path).list()
    assert len(rows) == RECORDS and {r["attempts"] for r in rows} == {1}


def test_claim_refuses_live_owner_and_reclaims_dead_one(tmp_path):
    db = RunRegistry(tmp_path / "registry.sqlite")
    # a live process holds the stamp
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from metabnn.runs import "
        "RunRegistry; db = RunRegistry(sys.argv[2]); print(db.claim('s1', {})[0], flush=True); "
        "time.sleep(60)"), str(Path(__file__).resolve().parents[1]), str(db.path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        assert db.claim("s1", {}) == (False, "running")
    finally:
        holder.kill()
        holder.wait()
    assert db.claim("s1", {}) == (True, "running")  # its owner died: claimed again
    row = db.get("s1")
    assert row["owner"].endswith(f":{os.getpid()}") and row["attempts"] == 2
    db.finish("s1", {"metrics": {}, "path": None})
    assert db.claim("s1", {}) == (False, "done")
    assert db.claim("s1", {}, force=True) == (True, "done")


@pytest.mark.parametrize("status", ["failed"])
def test_failed_stamp_is_claimed_again(tmp_path, status):
    db = RunRegistry(tmp_path / "r.sqlite")
    assert db.claim("s", {}) == (True, None)
    db.fail("s", "boom")
    assert db.claim("s", {}) == (True, status)
