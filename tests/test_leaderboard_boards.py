"""Boards: each one experiment with its protocol stated; runs placed by the sweeps that planned
them or by their protocol; a submission of another protocol refused; the same experiment under
two names shown once; the summary figure drawn from the rows' statistics."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from pathlib import Path

import pytest
from leaderboard_fixtures import META, NAIVE, board, fake_results, write

from metabnn.cli import main
from metabnn.leaderboard import CheckError, build, load_board
from metabnn.leaderboard.protocol import describe, differences, protocol_of

SWEEP = """name: {name}
base:
  stream: {{name: pmnist, tasks: 2, scenario: {scenario}}}
  model: {{name: bnn, hidden: [64, 64]}}
  train: {{epochs: 1}}
grid:
  strategy: [meta, naive, joint]
seeds: [0, 1, 2]
"""

BOARDS = """title: boards
intro: A fixture.
boards:
  - id: pm-task
    title: pMNIST task
    sweeps: [task.yaml]
  - id: pm-domain
    title: pMNIST domain
    sweeps: [domain.yaml]
"""


def _this_code(path: Path) -> Path:
    """The fixture run as if this checkout made it (`check` compares fingerprints)."""
    from metabnn.fingerprint import code_fingerprint

    body = json.loads(path.read_text())
    body["fingerprint"] = code_fingerprint()
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    return path


def _boards(folder: Path) -> Path:
    board(folder)  # the fixture runs: meta x3, naive x2, joint on task; one meta on domain
    for path in (folder / "results").glob("*.json"):
        _this_code(path)
    (folder / "task.yaml").write_text(SWEEP.format(name="task", scenario="task"))
    (folder / "domain.yaml").write_text(SWEEP.format(name="domain", scenario="domain"))
    (folder / "board.yaml").write_text(BOARDS)
    return folder


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_runs_go_to_the_board_that_planned_them_and_the_protocol_is_stated(tmp_path):
    folder = _boards(tmp_path)
    b = load_board(folder)
    assert list(b.tables) == ["pm-task", "pm-domain"]
    task, domain = b.tables["pm-task"], b.tables["pm-domain"]
    assert sorted(r.strategy for r in task.rows) == ["joint", "meta", "naive"]
    assert [r.hardware for r in domain.rows] == ["rram-2t2r/nominal"]
    assert task.protocol["stream.tasks"] == 2 and task.protocol["model.hidden"] == [64, 64]
    assert "stream.scenario" in task.protocol and "optim.meta" not in task.protocol
    # 3 strategies x 3 seeds planned per board; recorded: 3 + 2 + 1 on task, 1 on domain
    assert [(c.planned, c.recorded) for c in b.coverage] == [(9, 6), (9, 1)]
    # run time: the recorded runs' wall times (1.5 s each in the fixture), each run once
    assert [c.run_time_s for c in b.coverage] == [9.0, 1.5]
    assert task.seeds_planned == (0, 1, 2)
    build(folder)
    readme = (folder / "README.md").read_text()
    assert "| `task` | 9 | 6 | 0.1 min |" in readme and "| `domain` | 9 | 1 | 0.0 min |" in readme
    # every board together: 18 planned, 7 recorded, 7 x 1.5 s = 0.175 min
    assert "| **all boards** | | 18 | 7 | 0.2 min | |" in readme
    assert ("<tr><th>all boards</th><td></td><td>18</td><td>7</td><td>0.2 min</td>"
            in (folder / "index.html").read_text())
    assert (f"Protocol: {describe(task.protocol)}; seeds 0, 1, 2." in readme
            and "pmnist, 2 tasks, task-incremental" in readme
            and "hidden layers 64x64; 1 epochs per task, batch 100" in readme)
    assert len(_csv(folder / "pm-task.csv")) == 3 and len(_csv(folder / "pm-domain.csv")) == 1


def _other_protocol(tmp_path: Path) -> Path:
    """An EWC run on 3 tasks: no sweep planned it and no board runs 3 tasks."""
    R = [[0.9, 0.1, 0.1], [0.8, 0.9, 0.1], [0.7, 0.8, 0.9]]
    return _this_code(write(tmp_path / "sub", fake_results("ewc", 0, R)))


def test_a_run_of_another_protocol_fits_no_board_and_is_refused(tmp_path, capsys):
    folder = _boards(tmp_path / "b")
    path = _other_protocol(tmp_path)
    # `check --board`: refused, naming the closest board and where the protocols differ
    assert main(["leaderboard", "check", str(path), "--board", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"refused {path}: fits no board's protocol; closest pm-task differs in " \
           "stream.tasks 3 (board: 2)" in err, err
    # `build --add`: not added, and the board still builds from what it had
    assert main(["leaderboard", "build", "--board", str(folder), "--add", str(path)]) == 0
    captured = capsys.readouterr()
    assert "not added: " in captured.err and "stream.tasks 3 (board: 2)" in captured.err
    assert not (folder / "results" / path.name).exists()
    # copied in by hand: the build refuses the board, naming the file
    (folder / "results" / path.name).write_bytes(path.read_bytes())
    with pytest.raises(CheckError, match=path.stem + r".json: refused: fits no board"):
        load_board(folder)


def test_an_unplanned_run_of_the_boards_protocol_is_a_submission_that_fits(tmp_path, capsys):
    folder = _boards(tmp_path / "b")
    R = [[0.95, 0.10], [0.88, 0.90]]
    path = _this_code(write(tmp_path / "sub", fake_results("ewc", 0, R)))
    assert main(["leaderboard", "check", str(path), "--board", str(folder)]) == 0
    assert f"accepted {path} (board pm-task)" in capsys.readouterr().out
    assert main(["leaderboard", "build", "--board", str(folder), "--add", str(path)]) == 0
    assert "ewc" in [r["strategy"] for r in _csv(folder / "pm-task.csv")]


def test_protocol_differences_name_every_key_that_differs():
    a = fake_results("meta", 0, META[0])["config"]
    b = fake_results("meta", 0, META[0], scenario="domain")["config"]
    assert differences(protocol_of(a), protocol_of(b)) == [
        'stream.scenario "task" (board: "domain")']
    assert differences(protocol_of(a), protocol_of(a)) == []


def test_the_same_experiment_under_two_names_is_one_row_with_both_names(tmp_path):
    folder = _boards(tmp_path)
    for seed, R in enumerate(NAIVE):  # meta with m = 0: naive's matrices, seed for seed
        _this_code(write(folder / "results", fake_results("meta", seed, R, meta=0.0)))
    rows = load_board(folder).tables["pm-task"].rows
    names = sorted(r.name for r in rows)
    assert names == ["joint", "meta", "meta = naive"]
    twin = next(r for r in rows if r.same_as)
    assert twin.strategy == "meta" and dict(twin.hyperparameters)["m"] == 0.0
    # a control: SI with naive's very matrices is another method that happened to score the
    # same (tiny runs of a BNN do): not merged
    for seed, R in enumerate(NAIVE):
        _this_code(write(folder / "results", fake_results("si", seed, R)))
    names = sorted(r.name for r in load_board(folder).tables["pm-task"].rows)
    assert names == ["joint", "meta", "meta = naive", "si"], names
    for path in (folder / "results").glob("*.json"):
        if json.loads(path.read_text())["config"]["strategy"] == "si":
            path.unlink()
    # a control: one seed of m = 0 differs from naive's -> two rows again
    _this_code(write(folder / "results", fake_results("meta", 1, [[0.94, 0.10], [0.31, 0.90]],
                                                      meta=0.0)))
    assert len(load_board(folder).tables["pm-task"].rows) == 4


def test_the_summary_figure_marks_each_row_at_its_means_with_its_seed_spread(tmp_path):
    folder = _boards(tmp_path)
    build(folder)
    svg = (folder / "pm-task.svg").read_text()
    circles = [(float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"',
                                                           svg)]
    assert len(circles) == 2  # meta and naive; joint has no forgetting to place
    # by hand: forgetting of task 0 per seed; meta 0.05, 0.20, 0.12; naive 0.46, 0.64
    f_meta, f_naive = [0.05, 0.20, 0.12], [0.46, 0.64]
    (mx, my), (nx, ny) = circles  # rank order: meta (85 %) before naive (65 %)
    left = 44  # the plot's left edge: forgetting 0
    assert (nx - left) / (mx - left) == pytest.approx(
        statistics.mean(f_naive) / statistics.mean(f_meta), abs=0.01)
    assert ny > my  # lower accuracy is lower on the page (larger y)
    # meta's horizontal error bar spans mean ± sd of its forgetting
    x1, x2 = map(float, re.search(rf'<line x1="([\d.]+)" y1="{my:.1f}" x2="([\d.]+)" '
                                  rf'y2="{my:.1f}"', svg).groups())
    assert (x2 - x1) / (mx - left) == pytest.approx(
        2 * statistics.stdev(f_meta) / statistics.mean(f_meta), abs=0.01)


TINY_SWEEP = """name: tiny
base:
  stream: {name: pmnist, tasks: 2, train_per_task: 200, test_per_task: 100}
  model: {name: bnn, hidden: [16]}
  train: {epochs: 1}
grid:
  strategy: [naive, si]
seeds: [0, 1]
"""


def test_regenerate_runs_the_boards_sweeps_then_builds_and_is_resumable(
        tmp_path, capsys, data_root):
    """One command: the board's sweep runs (4 tiny runs on real MNIST), its done runs enter
    the board and the board is built; the same command again runs nothing; --plan says so."""
    folder = tmp_path / "board"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY_SWEEP)
    (folder / "board.yaml").write_text("title: t\nboards:\n  - id: tiny\n    title: Tiny\n"
                                       "    sweeps: [tiny.yaml]\n")
    argv = ["leaderboard", "regenerate", "--board", str(folder), "--out", str(tmp_path / "runs"),
            "--workers", "1", "--data-root", str(data_root)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 runs: 4 ran" in out and "regenerated" in out
    rows = _csv(folder / "tiny.csv")
    assert sorted(r["strategy"] for r in rows) == ["naive", "si"]
    assert all(r["n_seeds"] == "2" for r in rows)
    assert len(list((folder / "results").glob("*.json"))) == 4
    assert main(argv) == 0
    assert "4 runs: 0 ran" in capsys.readouterr().out  # done by this code: skipped
    assert main([*argv, "--plan"]) == 0
    plan = capsys.readouterr().out
    assert re.search(r"tiny\s+tiny\s+planned\s+4\s+done\s+4\s+left\s+0\s+run time left 0 min",
                     plan), plan
    # a fresh checkout (no registry): the committed files made by this code are adopted, not
    # rerun; one whose fingerprint is another code's is rerun
    files = sorted((folder / "results").glob("*.json"))
    before = {f.name: f.read_bytes() for f in files}
    other = json.loads(files[0].read_text())
    from metabnn.fingerprint import code_fingerprint
    other["fingerprint"] = code_fingerprint(threads=7)  # well-formed, another thread count's
    files[0].write_text(json.dumps(other, indent=2, sort_keys=True) + "\n")
    fresh = [*argv[:5], str(tmp_path / "fresh"), *argv[6:]]
    assert main([*fresh, "--plan"]) == 0
    plan = capsys.readouterr().out
    assert re.search(r"planned\s+4\s+done\s+3\s+left\s+1\s", plan), plan
    assert main(fresh) == 0
    out = capsys.readouterr().out
    assert "3 planned runs adopted" in out and "4 runs: 1 ran" in out, out
    after = {f.name: f.read_bytes() for f in (folder / "results").glob("*.json")}
    rerun = files[0].name
    assert {k: v for k, v in after.items() if k != rerun} == {
        k: v for k, v in before.items() if k != rerun}  # adopted byte for byte
    assert json.loads(after[rerun])["fingerprint"]["id"] != other["fingerprint"]["id"]


def _restamped(path: Path, **stream: object) -> Path:
    """The run at ``path`` with ``stream`` keys set, stamped anew (the old file removed)."""
    from metabnn.config import RunConfig, from_dict, stamp

    body = json.loads(path.read_text())
    body["config"]["stream"].update(stream)
    body["stamp"] = stamp(from_dict(RunConfig, body["config"]).validate())
    path.unlink()
    return _this_code(write(path.parent, body))


def test_a_model_without_batchnorm_runs_the_boards_protocol_whatever_its_batchnorm_policy(
        tmp_path, capsys):
    # a BatchNorm policy cannot differ for a model that has no BatchNorm: its resolved "none"
    # agrees with per-task and shared, while per-task against shared is another protocol
    assert differences({"stream.batchnorm": "none"}, {"stream.batchnorm": "per-task"}) == []
    assert differences({"stream.batchnorm": "shared"}, {"stream.batchnorm": "none"}) == []
    assert differences({"stream.batchnorm": "shared"}, {"stream.batchnorm": "per-task"}) == [
        'stream.batchnorm "shared" (board: "per-task")']
    folder = _boards(tmp_path / "b")
    for path in sorted((folder / "results").glob("*.json")):
        task = json.loads(path.read_text())["config"]["stream"]["scenario"] == "task"
        _restamped(path, batchnorm="per-task" if task else "shared")
    R = [[0.95, 0.10], [0.88, 0.90]]
    mesu = fake_results("mesu", 0, R)
    mesu["config"]["model"]["name"] = "gaussian-mlp"
    path = _restamped(write(tmp_path / "sub", mesu), batchnorm="none")
    assert main(["leaderboard", "check", str(path), "--board", str(folder)]) == 0
    assert f"accepted {path} (board pm-task)" in capsys.readouterr().out
    (folder / "results" / path.name).write_bytes(path.read_bytes())
    b = load_board(folder)  # placed, and the board still states its own policy
    assert "mesu" in [r.strategy for r in b.tables["pm-task"].rows]
    assert b.tables["pm-task"].protocol["stream.batchnorm"] == "per-task"
    # a BatchNorm model on the other policy is still refused
    other = _restamped(write(tmp_path / "sub2", fake_results("ewc", 0, R)), batchnorm="shared")
    assert main(["leaderboard", "check", str(other), "--board", str(folder)]) == 2
    assert "fits no board's protocol" in capsys.readouterr().err  # the nearest two tie


def test_a_board_shows_the_columns_it_declares_and_an_unknown_one_is_named(tmp_path, capsys):
    folder = _boards(tmp_path)
    (folder / "board.yaml").write_text(BOARDS.replace(
        "sweeps: [domain.yaml]",
        "sweeps: [domain.yaml]\n    columns: [device_writes, measured_ber]"))
    build(folder)
    page = (folder / "index.html").read_text()
    task, domain = page.split('<section id="pm-task">')[1].split('<section id="pm-domain">')
    assert "measured BER" not in task and "device writes" not in task
    # the fixture's hardware run: 37 failed writes of 1234 -> BER 0.02998 (4 significant digits)
    assert ">device writes</th><th data-type=\"num\">measured BER</th></tr>" in domain
    assert ">1234 ± n/a</td><td class=\"num\" data-v=\"0.029983792545\">0.02998 ± n/a</td>" \
        in domain
    readme = (folder / "README.md").read_text()
    assert "| forgetting (%) | device writes | measured BER |" in readme
    assert "| forgetting (%) |\n" in readme  # the task board adds nothing
    assert _csv(folder / "pm-domain.csv")[0]["measured_ber_mean"] == "0.0299838"
    (folder / "board.yaml").write_text(BOARDS.replace(
        "sweeps: [domain.yaml]", "sweeps: [domain.yaml]\n    columns: [energy]"))
    assert main(["leaderboard", "build", "--board", str(folder)]) != 0
    err = capsys.readouterr().err.strip()
    assert "columns: 'energy' is not a column" in err and "\n" not in err
