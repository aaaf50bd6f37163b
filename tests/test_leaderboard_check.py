"""`metabnn leaderboard check`: tampered results files are refused, honest ones accepted."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from leaderboard_fixtures import META, fake_results, write

from metabnn.cli import main
from metabnn.config import RunConfig, from_dict
from metabnn.leaderboard import CheckError, check_file, check_results
from metabnn.leaderboard.check import same_code
from metabnn.runner import run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def honest() -> dict:
    return fake_results("meta", 0, META[0], meta=1.35)


def _tamper_metric(r):
    r["metrics"]["average_accuracy"] += 0.01  # better than its own matrix says


def _tamper_matrix(r):
    r["accuracy_matrix"][1][0] = 0.99  # the matrix edited, the metrics left


def _drop_seed(r):
    del r["seed"]


def _alter_stamp(r):
    r["stamp"] = "0" * 12


def _alter_config(r):
    r["config"]["optim"]["meta"] = 2.0  # claims another m under the old stamp


def _seed_as_string(r):
    r["seed"] = "0"


def _matrix_as_strings(r):
    r["accuracy_matrix"] = [[str(a) for a in row] for row in r["accuracy_matrix"]]


def _accuracy_above_one(r):
    r["accuracy_matrix"][1][1] = 1.5


def _no_commit(r):
    del r["git_commit"]


def _no_date(r):
    r["date"] = "yesterday"


def _other_seed(r):
    r["seed"] = 7  # not the config's seed


TAMPERS = {
    _tamper_metric: "metrics.average_accuracy: reported",
    _tamper_matrix: "metrics.average_accuracy: reported",
    _drop_seed: "seed: missing",
    _alter_stamp: "stamp: '000000000000' is not the config's stamp",
    _alter_config: "is not the config's stamp",
    _seed_as_string: "seed: expected an integer, got str",
    _matrix_as_strings: "accuracy_matrix: entries must be numbers",
    _accuracy_above_one: "accuracies must lie in [0, 1]",
    _no_commit: "git_commit: missing",
    _no_date: "date: 'yesterday' is not an ISO 8601 date",
    _other_seed: "seed: 7 but config.seed is 0",
}


def test_the_honest_fixture_is_accepted(honest, tmp_path):
    assert check_results(honest) == []
    assert check_file(write(tmp_path, honest))["stamp"] == honest["stamp"]


@pytest.mark.parametrize("tamper", list(TAMPERS), ids=lambda f: f.__name__.strip("_"))
def test_a_tampered_file_is_refused_with_its_reason(tamper, honest, tmp_path):
    tamper(honest)
    path = write(tmp_path, honest)
    with pytest.raises(CheckError) as err:
        check_file(path)
    assert str(path) in str(err.value) and TAMPERS[tamper] in str(err.value)


def test_a_pickle_is_refused_and_never_unpickled(honest, tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_bytes(pickle.dumps(honest))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(CheckError, match="a pickle"):
        check_file(path)
    path.write_bytes(pickle.dumps(honest, protocol=0))  # ASCII opcodes: not JSON either
    with pytest.raises(CheckError, match="not UTF-8 JSON"):
        check_file(path)


def test_nan_is_refused(honest, tmp_path):
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(honest).replace('"wall_time_s": 1.5', '"wall_time_s": NaN'))
    with pytest.raises(CheckError, match="NaN"):
        check_file(path)


def test_cli_check_names_each_refused_file(honest, tmp_path, capsys):
    from metabnn.fingerprint import code_fingerprint

    honest = {**honest, "fingerprint": code_fingerprint()}  # made by this checkout's code
    good = write(tmp_path / "good", honest)
    bad = json.loads(json.dumps(honest))
    _tamper_metric(bad)
    bad_path = write(tmp_path / "bad", bad)
    assert main(["leaderboard", "check", str(good)]) == 0
    assert main(["leaderboard", "check", str(good), str(bad_path)]) == 2
    out = capsys.readouterr()
    assert f"accepted {good}" in out.out and "1 accepted, 1 refused" in out.out
    assert f"refused {bad_path}: metrics.average_accuracy: reported" in out.err


@pytest.mark.slow  # ~10 s alone, ~50 s on a loaded machine; the committed runs cover it fast
def test_a_real_untouched_results_file_is_accepted(data_root, tmp_path):
    """End to end: what the runner writes passes the check as it is (a tiny real run)."""
    config = from_dict(RunConfig, {
        "stream": {"name": "pmnist", "tasks": 2, "train_per_task": 300, "test_per_task": 200},
        "model": {"hidden": [32]}, "train": {"epochs": 1}})
    results = run(config, data_root=data_root, out_dir=tmp_path, progress=False,
                  log=lambda s: None, record=False)
    assert check_file(results["path"])["stamp"] == results["stamp"]


def test_the_committed_runs_pass_the_check():
    """The board's runs are results.json files copied untouched from real runs."""
    paths = sorted((REPO / "leaderboards" / "results").glob("*.json"))
    assert paths
    for path in paths:
        check_file(path)


def test_the_cli_check_refuses_a_file_made_by_other_code(honest, tmp_path, capsys):
    """The fingerprint's sources (or library versions) must be this checkout's; the thread count
    says how a run ran, not which code made it."""
    from metabnn.fingerprint import code_fingerprint, fingerprint_id

    current = code_fingerprint()
    other_threads = {**current, "threads": current["threads"] + 1}
    other_threads["id"] = fingerprint_id(other_threads)
    old = {**current, "sources": "0" * 16}
    old["id"] = fingerprint_id(old)
    same = write(tmp_path / "same", {**honest, "fingerprint": other_threads})
    stale = write(tmp_path / "stale", {**honest, "fingerprint": old})
    assert main(["leaderboard", "check", str(same)]) == 0
    assert main(["leaderboard", "check", str(stale)]) == 2
    err = capsys.readouterr().err
    assert f"fingerprint: {old['id']} was made by other code than this checkout's " \
           f"({current['id']}: sources differ)" in err


def test_a_dirty_commit_or_a_forged_fingerprint_is_refused(honest):
    dirty = {**honest, "git_commit": honest["git_commit"] + "-dirty"}
    assert any("made from uncommitted code" in r for r in check_results(dirty))
    forged = {**honest, "fingerprint": {**honest["fingerprint"], "sources": "f" * 16}}
    assert "fingerprint: malformed (its fields, or an id that is not their hash)" in \
        check_results(forged)
    assert check_results(honest) == []


def test_a_file_of_an_older_schema_is_named_as_such_not_as_tampered():
    """A results file written before the config grew a field (model.sign_zero) is another
    metabnn's: the check says which fields it lacks, not that its stamp was forged."""
    r = fake_results("meta", 0, META[0], meta=1.35)
    assert check_results(r) == []
    del r["config"]["model"]["sign_zero"]
    reasons = check_results(r)
    assert reasons == ["config: written by an older metabnn (it lacks model.sign_zero): rerun "
                       "the run with this code"], reasons
    r["config"]["model"]["sign_zero"] = "zero"  # present but not what the stamp says: forged
    assert any(x.startswith("stamp: ") for x in check_results(r))


# Each case: a damage and the exact reasons the check gives, so a changed message, a loosened
# bound or a skipped check fails here (these were found by the mutation run, docs/mutation/).
def _set(path: str, value):
    def damage(r):
        *parents, last = path.split(".")
        node = r
        for key in parents:
            node = node[key]
        node[last] = value
    damage.__name__ = f"{path}={value!r}"
    return damage


def _curve(index: int, **fields):
    def damage(r):
        r["curves"][index].update(fields)
    damage.__name__ = f"curves[{index}]<-{fields}"
    return damage


_MALFORMED_CURVES = ("curves: expected a list of {experience, epoch, accuracy: one number in "
                     "[0, 1] per task}")
EXACT = [
    (_set("accuracy_matrix", []), ["accuracy_matrix: must be a non-empty list of non-empty lists"]),
    (_set("accuracy_matrix", ["ab", "cd"]),
     ["accuracy_matrix: must be a non-empty list of non-empty lists"]),
    (_set("accuracy_matrix", [[], []]),
     ["accuracy_matrix: must be a non-empty list of non-empty lists"]),
    (_set("accuracy_matrix", [["0.9", 0.1], [0.9, 0.9]]),
     ["accuracy_matrix: entries must be numbers"]),
    (_set("accuracy_matrix", [[1.5, 0.1], [0.9, 0.9]]),
     ["accuracy_matrix: accuracies must lie in [0, 1]"]),
    (_curve(0, epoch="0"), [_MALFORMED_CURVES]),
    (_curve(0, experience="0"), [_MALFORMED_CURVES]),
    (_curve(0, accuracy=[0.95]), [_MALFORMED_CURVES]),
    (_curve(0, accuracy=[0.95, "0.1"]), [_MALFORMED_CURVES]),
    (_curve(0, accuracy=[1.5, 0.1]), [_MALFORMED_CURVES]),
    (_curve(1, accuracy=[0.9, 0.8]),
     ["curves: the last epoch's accuracies are not the accuracy matrix's last row"]),
    (_set("stamp", 5), ["stamp: expected a string, got int"]),
    (_set("config", []), ["config: expected an object, got list"]),
    (_set("boundaries", "yes"), ["boundaries: expected a boolean, got str"]),
    (_set("curves", {}), ["curves: expected a list, got dict"]),
    (_set("wall_time_s", "1.5"), ["wall_time_s: expected an integer or a number, got str"]),
    (_set("wall_time_s", -1.0), ["wall_time_s: -1.0 must be a number >= 0"]),
    (_set("versions.torch", 2), ["versions.torch: missing"]),
    (_set("git_commit", "0123456789abcdef0123456789abcdef01234567-dirty"),
     ["git_commit: 0123456789ab-dirty: made from uncommitted code that no commit can "
      "regenerate (commit, then rerun)"]),
    (_set("hardware", {"energy_total_pj": {"train": -1.0}}),
     ["hardware.energy_total_pj: must map phases to energies >= 0"]),
]


@pytest.mark.parametrize("damage,reasons", EXACT, ids=[d.__name__ for d, _ in EXACT])
def test_each_damage_gets_exactly_its_reasons(damage, reasons, honest):
    damage(honest)
    assert check_results(honest) == reasons


def test_a_broken_config_is_one_reason_not_a_crash(honest):
    honest["config"] = {"strategy": "meta", "no_such_field": 1}
    reasons = check_results(honest)
    assert len(reasons) == 1 and reasons[0].startswith("config: "), reasons


def test_bounds_are_inclusive(honest):
    """Accuracies of exactly 0 and 1 and a wall time of 0 are legal; a metric off by exactly
    TOLERANCE is accepted (the bound is |difference| > TOLERANCE)."""
    from metabnn.leaderboard.check import TOLERANCE

    edge = fake_results("meta", 0, [[1.0, 0.0], [1.0, 1.0]], meta=1.35)
    assert edge["metrics"]["backward_transfer"] == 0.0
    edge["metrics"]["backward_transfer"] = TOLERANCE
    edge["wall_time_s"] = 0
    assert check_results(edge) == []
    edge["metrics"]["backward_transfer"] = 2 * TOLERANCE
    assert [r.split(":")[0] for r in check_results(edge)] == ["metrics.backward_transfer"]


def test_a_joint_run_is_checked_as_one_row():
    joint = fake_results("joint", 0, [[0.92, 0.94]])
    assert check_results(joint) == []
    joint["metrics"]["average_accuracy"] = 0.5
    assert check_results(joint) == [
        "metrics.average_accuracy: reported 0.5 but the accuracy matrix gives 0.9299999999999999"]


def test_two_missing_fields_are_both_named():
    r = fake_results("meta", 0, META[0], meta=1.35)
    del r["config"]["model"]["sign_zero"]
    del r["config"]["optim"]["meta"]
    assert check_results(r) == ["config: written by an older metabnn (it lacks model.sign_zero, "
                                "optim.meta): rerun the run with this code"]


def test_same_code_names_each_difference():
    from leaderboard_fixtures import fake_fingerprint

    a = fake_fingerprint()
    b = {**fake_fingerprint(sources="f" * 16), "torch": "2.1", "numpy": "1.0"}
    assert same_code(a, a) is None
    assert same_code(a, b) == "sources, torch 2.0 vs 2.1, numpy 2.0 vs 1.0"


def test_check_file_messages(honest, tmp_path):
    """A symlink inside its folder is read; a JSON list, a non-JSON file and two reasons get
    their whole message."""
    real = write(tmp_path, honest)
    link = tmp_path / "link.json"
    link.symlink_to(real.name)
    assert check_file(link)["stamp"] == honest["stamp"]
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(CheckError) as err:
        check_file(listed)
    assert str(err.value) == f"{listed}: not a JSON object"
    text = tmp_path / "text.json"
    text.write_text("hello")
    with pytest.raises(CheckError) as err:
        check_file(text)
    assert str(err.value).startswith(f"{text}: not UTF-8 JSON (")
    assert str(err.value).endswith("): submit the results.json a run wrote, unchanged")
    two = write(tmp_path / "two", {**honest, "seed": 7, "device": ""})
    with pytest.raises(CheckError) as err:
        check_file(two)
    assert str(err.value) == f"{two}: seed: 7 but config.seed is 0; device: empty"


def test_hardware_energies_are_checked():
    r = fake_results("meta", 0, [[0.9, 0.2], [0.6, 0.8]], meta=1.35, scenario="domain",
                     hardware={"name": "rram-2t2r"}, writes=1234, counts={
                         "train": {"fc": {"writes": 1234, "synapse_reads": 5000}},
                         "evaluation": {"fc": {"synapse_reads": 0}}})
    assert r["hardware"]["energy_total_pj"]["evaluation"] == 0.0
    assert check_results(r) == []  # an energy of 0 is legal
    r["hardware"]["energy_total_pj"] = {"train": 0.5}
    assert check_results(r) == []
    del r["hardware"]["energy_total_pj"]
    assert check_results(r) == []  # a backend that priced nothing
    for bad in ([1.0], {"train": "1"}, {"train": -0.5}):
        r["hardware"]["energy_total_pj"] = bad
        assert check_results(r) == ["hardware.energy_total_pj: must map phases to energies >= 0"]
    r["hardware"]["energy_total_pj"] = {"train": 0.5}
    r["hardware"]["measured_ber"] = {"writes": 0}
    assert check_results(r) == []  # no device write is legal
    del r["hardware"]["measured_ber"]
    assert check_results(r) == []
    for bad in (-1, "x", True, 1.5):
        r["hardware"]["measured_ber"] = {"writes": bad}
        assert check_results(r) == ["hardware.measured_ber.writes: must be an integer >= 0"]


def test_a_joint_run_with_a_square_matrix_is_refused_by_its_shape():
    joint = fake_results("joint", 0, [[0.92, 0.94]])
    joint["accuracy_matrix"] = [[0.92, 0.94], [0.92, 0.94]]
    assert check_results(joint) == ["accuracy_matrix: shape 2 x 2, expected 1 x 2 (joint training)"]
