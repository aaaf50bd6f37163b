"""The leaderboard: expected tables from a fixture board, deterministic builds, a fresh board."""

from __future__ import annotations

import csv
import filecmp
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from leaderboard_fixtures import board, fake_fingerprint

from metabnn.cli import main
from metabnn.leaderboard import build, load_board
from metabnn.leaderboard.build import GENERATED
from metabnn.leaderboard.schema import Stat, fmt_stat
from metabnn.runs import RunRegistry

REPO = Path(__file__).resolve().parents[1]
BOARD = REPO / "leaderboards"


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_stat_is_mean_and_sample_std():
    s = Stat.of([0.9, 0.8, 0.85])
    assert s.mean == pytest.approx(0.85) and s.std == pytest.approx(0.05) and s.n == 3
    assert Stat.of([0.7]).std is None  # one seed: undefined, not 0
    assert Stat.of([None, None]) is None


def test_build_gives_the_expected_tables(tmp_path):
    written = build(board(tmp_path))
    assert [p.name for p in written] == ["README.md", "index.html", "pmnist-domain.csv",
                                               "pmnist-task.csv"]
    task = _csv(tmp_path / "pmnist-task.csv")
    # ranked by mean final average accuracy: joint 0.93 > meta 0.85 > naive 0.65 (by hand)
    assert [r["strategy"] for r in task] == ["joint", "meta", "naive"]
    assert [r["rank"] for r in task] == ["1", "2", "3"]
    joint, meta, naive = task
    assert meta["average_accuracy_mean"] == "0.850000"
    assert meta["average_accuracy_std"] == "0.050000"  # sample std of 0.9, 0.8, 0.85
    assert meta["n_seeds"] == "3" and meta["seeds"] == "0 1 2"
    assert meta["fewer_than_3_seeds"] == "false"
    # forgetting of meta: task 0 drops 0.05, 0.20, 0.12 -> mean 0.123333
    assert meta["forgetting_mean"] == "0.123333"
    assert meta["backward_transfer_mean"] == "-0.123333"
    # learning accuracy, the diagonal: (0.95 + 0.90) / 2, (0.90 + 0.90) / 2, (0.92 + 0.90) / 2
    assert meta["learning_accuracy_mean"] == "0.911667" and meta["ood_auroc_mean"] == ""
    assert "Chaudhry" in meta["forgetting_definition"]
    assert naive["average_accuracy_mean"] == "0.650000"
    assert naive["average_accuracy_std"] == "0.070711"  # |0.7 - 0.6| / sqrt(2)
    assert naive["fewer_than_3_seeds"] == "true"
    assert joint["backward_transfer_mean"] == "" and joint["average_accuracy_std"] == ""
    assert joint["fewer_than_3_seeds"] == "true"
    assert len(meta["stamps"].split()) == 3 and meta["best_run"] == meta["stamps"].split()[0]
    assert meta["git_commits"] == "0123456789abcdef0123456789abcdef01234567"
    domain = _csv(tmp_path / "pmnist-domain.csv")
    assert len(domain) == 1 and domain[0]["hardware"] == "rram-2t2r/nominal"
    assert domain[0]["train_device_energy_pj_mean"] == "173.4"
    assert domain[0]["device_writes_mean"] == "1234"
    readme = (tmp_path / "README.md").read_text()
    assert readme.splitlines()[0] == f"<!-- {GENERATED} -->"
    assert "| 2 | meta | bnn 64x64 | none | epochs=1 lr=0.005 m=1.35 | 3 | 85.00 ± 5.00 |" \
        in readme
    assert "| 3 | naive | bnn 64x64 | none | epochs=1 lr=0.005 m=0.0 | 2 † | 65.00 ± 7.07 |" \
        in readme


def test_build_from_a_fixture_registry(tmp_path, capsys):
    """`build --registry`: the registry's done runs are checked, copied byte for byte into the
    board's results/, and tabled; a failed run and a tampered file stay out."""
    from metabnn.fingerprint import code_fingerprint

    source = board(tmp_path / "source") / "results"
    db = RunRegistry(tmp_path / "registry.sqlite")
    paths = sorted(source.glob("*.json"))
    for path in paths:  # made by this checkout's code, as a registry of fresh runs is
        body = json.loads(path.read_text())
        path.write_text(json.dumps({**body, "fingerprint": code_fingerprint()}, indent=2,
                                   sort_keys=True) + "\n")
    for path in paths:
        r = json.loads(path.read_text())
        db.start(r["stamp"], r["config"], sweep="fixture")
        db.finish(r["stamp"], {**r, "path": str(path)})
    db.start("f" * 12, {"strategy": "ewc"})
    db.fail("f" * 12, "RuntimeError: boom")
    tampered = json.loads(paths[0].read_text())
    tampered["metrics"]["average_accuracy"] = 1.0
    paths[0].write_text(json.dumps(tampered))
    (joint,) = [p for p in paths if '"joint"' in p.read_text()]
    older = json.loads(joint.read_text())  # a done run of older code stays out too
    older["fingerprint"] = fake_fingerprint(sources="fedcba9876543210")
    joint.write_text(json.dumps(older))
    kept = [p for p in paths[1:] if p != joint]
    folder = tmp_path / "board"
    assert main(["leaderboard", "build", "--board", str(folder), "--registry",
                 str(tmp_path / "registry.sqlite")]) == 0
    copied = sorted((folder / "results").glob("*.json"))
    assert [p.name for p in copied] == [p.name for p in kept]
    assert f"{joint.name}: fingerprint: " in capsys.readouterr().err
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(copied, kept))
    rows = _csv(folder / "pmnist-task.csv") + _csv(folder / "pmnist-domain.csv")
    assert sum(int(r["n_seeds"]) for r in rows) == len(paths) - 2


def test_build_is_deterministic(tmp_path):
    first = board(tmp_path / "a")
    build(first)
    # the same runs copied in reverse order, into another folder: byte-identical outputs
    second = tmp_path / "b"
    (second / "results").mkdir(parents=True)
    shutil.copy(first / "board.yaml", second)
    for path in sorted((first / "results").glob("*.json"), reverse=True):
        shutil.copy(path, second / "results")
    build(second)
    for name in ("README.md", "index.html", "pmnist-task.csv", "pmnist-domain.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_build_refuses_a_board_with_a_tampered_run(tmp_path):
    folder = board(tmp_path)
    victim = sorted((folder / "results").glob("*.json"))[0]
    victim.write_text(victim.read_text().replace('"seed": ', '"seed_": ', 1))
    with pytest.raises(ValueError, match=victim.name):
        build(folder)


def _generated(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()
                  if p.suffix in (".csv", ".html", ".svg") or p.name == "README.md")


@pytest.mark.parametrize("folder", [BOARD, BOARD / "gpu"], ids=["cpu", "gpu"])
def test_committed_board_is_a_fresh_rebuild(folder, tmp_path):
    """`metabnn leaderboard build` on the committed runs reproduces leaderboards/ (and the
    GPU-size spec's leaderboards/gpu/) byte for byte: a stale or hand-edited table fails here."""
    written = build(folder, tmp_path)
    assert [p.name for p in written] == _generated(folder)
    for path in written:
        assert filecmp.cmp(path, folder / path.name, shallow=False), (
            f"{folder / path.name} is stale: run `metabnn leaderboard build --board {folder}`")


def test_committed_board_covers_its_sweeps():
    b = load_board(BOARD)
    assert b.results and b.coverage
    assert sum(c.recorded for c in b.coverage) == len(b.results)


def test_the_board_specs_are_what_their_generator_writes():
    """leaderboards/{,gpu/}board.yaml and their sweeps come from scripts/board_sweeps.py: the
    CPU and GPU specs plan the same rows; a hand edit (or a generator change not rerun) fails."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(REPO / "scripts/board_sweeps.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    cpu, gpu = (sorted(p.name for p in (f / "sweeps").glob("*.yaml")) for f in (BOARD,
                                                                               BOARD / "gpu"))
    assert cpu == gpu and len(cpu) == 12


def test_a_table_whose_runs_were_made_by_two_codes_is_refused(tmp_path):
    """A table compares methods, not versions of the code: one run with other sources in the
    pmnist/task table stops the build, naming the table and the runs."""
    from leaderboard_fixtures import NAIVE, fake_fingerprint, fake_results, write

    from metabnn.leaderboard import CheckError

    folder = board(tmp_path)
    odd = fake_results("naive", 2, NAIVE[0])
    odd["fingerprint"] = fake_fingerprint(sources="fedcba9876543210")
    write(folder / "results", odd)
    with pytest.raises(CheckError, match=r"table pmnist-task: refused: its runs were made by 2 "
                                         r"different codes .*" + odd["stamp"]):
        load_board(folder)
    # another thread count is how a run ran, not which code: accepted
    odd["fingerprint"] = fake_fingerprint(threads=1)
    write(folder / "results", odd)
    assert len(load_board(folder).results) == 8


def test_a_board_cell_shows_close_seeds_as_close_not_identical():
    # cumulative (BNN) on pmnist-task: three seeds within 0.007 points; sample sd 0.0040 points
    assert fmt_stat(Stat.of([0.93437, 0.93430, 0.93430])) == "93.43 ± 0.004"
    assert fmt_stat(Stat.of([0.9, 0.9, 0.9])) == "90.00 ± 0.00"
    assert fmt_stat(Stat.of([0.9])) == "90.00 ± n/a"


def test_every_file_a_committed_readme_links_exists():
    # a stream-learning board has no forgetting, hence no summary figure to link to
    for folder in (BOARD, BOARD / "gpu"):
        links = re.findall(r"\]\(([^)#]+)\)", (folder / "README.md").read_text())
        assert [link for link in links if not (folder / link).exists()] == []
        assert links or folder.name == "gpu", "the committed board links its CSVs and figures"


def test_a_board_without_forgetting_says_why_it_has_no_summary_figure():
    page = (BOARD / "index.html").read_text()
    stream = page.split('<section id="stream-fmnist">')[1].split("</section>")[0]
    assert "<svg" not in stream.split("<figure>")[0] and "No summary figure" in stream
    assert not (BOARD / "stream-fmnist.svg").exists()
