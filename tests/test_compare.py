"""``metabnn compare`` and ``metabnn runs --format``: hand-made runs whose numbers are worked out
by hand (see leaderboard_fixtures for the matrices)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from leaderboard_fixtures import META, NAIVE, fake_results, write

from metabnn.cli import main
from metabnn.runs import RunRegistry


@pytest.fixture
def registry(tmp_path):
    """meta (m = 1.35) over 3 seeds and naive over 2, recorded as sweep "demo"; one failed run."""
    db = RunRegistry(tmp_path / "registry.sqlite")
    runs = [fake_results("meta", s, R, meta=1.35) for s, R in enumerate(META)]
    runs += [fake_results("naive", s, R) for s, R in enumerate(NAIVE)]
    for r in runs:
        path = write(tmp_path / "results", r)
        db.start(r["stamp"], r["config"], sweep="demo")
        db.finish(r["stamp"], {**r, "path": str(path)})
    db.start("ffff00000000", {"strategy": "ewc", "stream": {"name": "pmnist"}, "seed": 0})
    db.fail("ffff00000000", "RuntimeError: boom")
    return db, runs


def test_compare_groups_seeds_and_shows_what_differs(registry, capsys):
    db, _ = registry
    assert main(["compare", "--registry", str(db.path), "--sweep", "demo", "--format",
                 "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    meta, naive = out["rows"]  # best first
    assert (meta["strategy"], meta["optim.meta"], meta["n"], meta["seeds"]) == (
        "meta", 1.35, 3, [0, 1, 2])
    # final rows average to 0.90, 0.80, 0.85: mean 0.85, sample sd 0.05
    assert meta["average_accuracy"]["mean"] == pytest.approx(0.85)
    assert meta["average_accuracy"]["sd"] == pytest.approx(0.05)
    # BWT of each seed: R[1][0] - R[0][0] = -0.05, -0.20, -0.12
    assert meta["backward_transfer"]["mean"] == pytest.approx(-0.37 / 3)
    assert meta["final_row"] == pytest.approx([0.80, 0.90])
    assert naive["average_accuracy"]["mean"] == pytest.approx(0.65)
    assert naive["forgetting"]["mean"] == pytest.approx(0.55)  # 0.46 and 0.64
    assert naive["optim.meta"] == 0.0 and naive["n"] == 2
    assert "strategy" not in out["common"] and out["common"]["stream.name"] == "pmnist"


def test_compare_markdown_text_and_csv(registry, capsys):
    db, runs = registry
    assert main(["compare", "--registry", str(db.path), "--format", "md"]) == 0
    md = capsys.readouterr().out
    lines = md.splitlines()
    assert lines[0].startswith("| optim.meta | strategy | accuracy (%) | BWT (points)")
    assert lines[2] == ("| 1.35 | meta | 85.00 ± 5.00 | -12.33 ± 7.51 | 12.33 ± 7.51 | "
                        "80.00 90.00 | — | 3 | 0 1 2 |")  # hand-made runs record no memory
    assert "Same in every row: " in md and "`stream.name=\"pmnist\"`" in md
    # by stamp prefix: one seed, so the sd is n/a, never 0
    assert main(["compare", "--registry", str(db.path), runs[3]["stamp"][:8]]) == 0
    text = capsys.readouterr().out
    assert "70.00 ± n/a" in text and "naive" in text
    assert main(["compare", "--registry", str(db.path), "--strategy", "naive", "--format",
                 "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["accuracy (%)"] == "65.00 ± 7.07" and rows[0]["n"] == "2"
    assert rows[0]["stamps"].split() == [runs[3]["stamp"], runs[4]["stamp"]]


def test_compare_refuses_failed_unknown_and_empty(registry, capsys):
    db, _ = registry
    assert main(["compare", "--registry", str(db.path), "ffff00000000"]) == 2
    assert "run ffff00000000 is failed: only done runs compare" in capsys.readouterr().err
    assert main(["compare", "--registry", str(db.path), "abcdef"]) == 2
    assert "no run 'abcdef'" in capsys.readouterr().err
    assert main(["compare", "--registry", str(db.path), "--stream", "cifar"]) == 2
    assert "no done runs match" in capsys.readouterr().err
    assert main(["compare", "--registry", str(db.path.parent / "none.sqlite")]) == 2


def test_runs_export_csv_and_json(registry, capsys):
    db, runs = registry
    assert main(["runs", "--registry", str(db.path), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 6
    by_stamp = {r["stamp"]: r for r in rows}
    first = by_stamp[runs[0]["stamp"]]
    assert first["status"] == "done" and first["config.optim.meta"] == "1.35"
    assert float(first["metrics.average_accuracy"]) == pytest.approx(0.9)
    assert by_stamp["ffff00000000"]["status"] == "failed"
    assert by_stamp["ffff00000000"]["error"] == "RuntimeError: boom"
    assert main(["runs", "--registry", str(db.path), "--format", "json", "--status", "done"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(r["stamp"] for r in out) == sorted(r["stamp"] for r in runs)
    assert {r["stamp"]: r for r in out}[runs[0]["stamp"]]["config"]["optim"]["meta"] == 1.35


def test_a_parameter_only_one_strategy_has_is_its_own_column(tmp_path, capsys):
    """naive has no params ({}), ewc has one: the table shows params.ewc_lambda (— for naive),
    not a `params` column of {} against nothing."""
    db = RunRegistry(tmp_path / "registry.sqlite")
    naive = fake_results("naive", 0, NAIVE[0])
    ewc = fake_results("ewc", 0, NAIVE[1])
    ewc["config"]["params"] = {"ewc_lambda": 5000.0}
    ewc["stamp"] = "eeee00000000"
    for r in (naive, ewc):
        path = write(tmp_path / "results", r)
        db.start(r["stamp"], r["config"], sweep="mixed")
        db.finish(r["stamp"], {**r, "path": str(path)})
    assert main(["compare", "--registry", str(db.path), "--sweep", "mixed", "--format",
                 "md"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split(" | ")
    assert header[:2] == ["| params.ewc_lambda", "strategy"] and "params" not in header
    assert {lines[2].split(" | ")[0], lines[3].split(" | ")[0]} == {"| 5000.0", "| —"}
