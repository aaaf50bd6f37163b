"""Paper reproductions: recipes validate against the sweep schema, claims are judged by hand-
checkable rules, the docs page is the generator's output, and (slow) every recipe runs end to
end at the smoke scale on real MNIST / Fashion-MNIST."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from metabnn.cli import main
from metabnn.config import ConfigError
from metabnn.reproduce import load_recipe, recipe_names, resolve
from metabnn.reproduce.docs import build_docs
from metabnn.reproduce.recipe import SCALES, BerPlan, _parse
from metabnn.reproduce.report import compare, metric_value, select, summary_table
from metabnn.sweep import SweepSpec

REPO = Path(__file__).resolve().parents[1]
RECIPES = ["fig2", "table1", "fig3-width", "mnist-fmnist", "stream-fmnist", "ber-tolerance",
           "mram-ber", "stochastic-inputs", "ternary", "vandeven-split-mnist", "vandeven-pmnist",
           "mesu-long-pmnist", "bimu-long-pmnist", "biosignals"]


def test_the_recipes_are_bundled_in_order():
    assert recipe_names() == RECIPES


@pytest.mark.parametrize("name", RECIPES)
@pytest.mark.parametrize("scale", SCALES)
def test_every_recipe_validates_at_every_scale(name, scale):
    recipe = load_recipe(name)
    plan = resolve(recipe, scale)
    if recipe.kind == "runs":
        assert isinstance(plan, SweepSpec) and plan.grid  # every run config already validated
    else:
        assert isinstance(plan, BerPlan) and plan.config.bers[0] == 0.0
    assert recipe.expected, "a recipe without claims compares nothing"
    for claim in recipe.expected:
        assert claim["source"].strip()


def test_quick_shrinks_and_full_is_the_papers_protocol():
    fig2 = load_recipe("fig2")
    full, quick = resolve(fig2, "full"), resolve(fig2, "quick")
    assert full.base["model"]["hidden"] == [4096, 4096] and full.base["train"]["epochs"] == 40
    assert full.base["stream"]["tasks"] == 6
    assert dict(full.grid)["optim.meta"] == (0.0, 0.5, 1.0, 1.35)
    assert quick.base["model"]["hidden"] == [512, 512] and quick.base["train"]["epochs"] == 8
    assert resolve(fig2, "quick", seeds=3).seeds == (0, 1, 2)


def test_a_recipe_that_breaks_the_schema_is_refused_at_load():
    good = {"name": "x", "title": "t", "paper": "p", "kind": "runs", "protocol": "p",
            "sweep": {"base": {"stream": {"name": "pmnist", "tasks": 2}}, "grid": {
                "optim.meta": [0.0]}},
            "expected": [{"claim": "c", "source": "s", "metric": "average_accuracy",
                          "band": {"full": [0, 1]}}]}
    assert _parse(good, "t").name == "x"
    bad = [
        ({**good, "kind": "nope"}, "kind='nope' is invalid"),
        ({**good, "sweep": {**good["sweep"], "grdi": {}}}, "unknown keys ['grdi']"),
        ({**good, "sweep": {**good["sweep"], "grid": {"optim.meta": [-1.0]}}},
         "optim.meta=-1.0 is invalid"),
        ({**good, "scales": {"full": {}}}, "scales.full is invalid"),
        ({**good, "expected": [{"claim": "c", "source": "s", "metric": "m"}]},
         "needs a band or a versus"),
        ({**good, "colour": 1}, "unknown keys ['colour']"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
            _parse(data, "t")


def test_unknown_recipe_and_bad_values_are_one_line_exit_2(capsys, tmp_path):
    for argv, message in [
        (["reproduce", "fig22"], "recipe 'fig22' is unknown (did you mean 'fig2'?)"),
        (["reproduce", "fig2", "--seeds", "0"], "--seeds 0 is invalid: must be >= 1"),
        (["reproduce", "fig2", "--workers", "0"], "--workers 0 is invalid"),
        (["reproduce"], "reproduce needs a recipe NAME"),
        (["reproduce", "fig2", "--data-root", str(tmp_path / "none")], "no such folder"),
    ]:
        assert main([*argv, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (argv, err)
    assert not (tmp_path / "out").exists()  # nothing written


def test_list_prints_every_recipe_with_both_protocols(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for name in RECIPES:
        assert f"\n{name}  —  " in f"\n{out}"
    assert out.count("    quick (") == len(RECIPES) and out.count("    full  (") == len(RECIPES)
    assert "784-4096-4096-10 BNN" in out


ROWS = [  # two seeds of two values of m
    {"optim.meta": 0.0, "seed": 0, "task_accuracy:0": 0.20, "w": 1},
    {"optim.meta": 0.0, "seed": 1, "task_accuracy:0": 0.30, "w": 2},
    {"optim.meta": 1.35, "seed": 0, "task_accuracy:0": 0.60, "w": 3},
    {"optim.meta": 1.35, "seed": 1, "task_accuracy:0": 0.70, "w": 4},
]


def test_versus_claims_judge_the_welch_interval_of_the_difference_against_the_margin():
    claim = {"claim": "c", "source": "s", "metric": "task_accuracy:0",
             "where": {"optim.meta": 1.35}, "versus": {"where": {"optim.meta": 0.0}}}
    # 0.65 vs 0.25 over two seeds each, sd 0.0707 on both sides: Welch's df = 2,
    # t(0.975, 2) = 4.3027, se = 0.0707, so the 95% interval of the gap is 0.40 +- 0.3042
    (ok,) = compare([{**claim, "versus": {**claim["versus"], "margin": 0.05}}], ROWS, "quick")
    assert ok["verdict"] == "match" and ok["ours"] == pytest.approx(0.65) and ok["n"] == 2
    assert ok["interval"] == pytest.approx((0.0958, 0.7042), abs=1e-4)
    assert "+40.00 points" in ok["detail"] and "95% CI [+9.58, +70.42] (Welch's t" in ok["detail"]
    (unsure,) = compare([{**claim, "versus": {**claim["versus"], "margin": 0.4}}], ROWS, "quick")
    assert unsure["verdict"] == "inconclusive"  # a 40-point mean gap does not clear 40 points
    (no,) = compare([{**claim, "versus": {**claim["versus"], "margin": 0.8}}], ROWS, "quick")
    assert no["verdict"] == "differs"  # the whole interval lies below 80 points


def test_one_seed_never_decides_a_claim():
    one = [r for r in ROWS if r["seed"] == 0]
    claim = {"claim": "c", "source": "s", "metric": "task_accuracy:0",
             "where": {"optim.meta": 1.35}, "versus": {"where": {"optim.meta": 0.0},
                                                      "margin": 0.0}}
    (entry,) = compare([claim], one, "quick")  # a 30-point gap, one seed a side
    assert entry["verdict"] == "inconclusive" and "needs >= 2 seeds on each side" in \
        entry["detail"]
    assert summary_table(one, ["optim.meta"], ["task_accuracy:0"])[0][
        "task_accuracy:0 (%)"] == "20.00 ± n/a"  # never "± 0.00"


ROWS3 = [{"optim.meta": 0.0, "seed": s, "task_accuracy:0": a, "stamp": f"x{s}"}
         for s, a in enumerate((0.24, 0.25, 0.26))]


def test_band_claims_judge_the_t_interval_of_the_mean_per_scale():
    # mean 0.25, sd 0.01, n = 3: t(0.975, 2) = 4.3027, half width 4.3027 * 0.01 / sqrt(3)
    claim = {"claim": "c", "source": "s", "metric": "task_accuracy:0", "paper": 0.97,
             "where": {"optim.meta": 0.0},
             "band": {"quick": [0.2, 0.3], "full": [0.9, 1], "smoke": [0.26, 0.3]}}
    (inside,) = compare([claim], ROWS3, "quick")
    assert inside["verdict"] == "match" and "-72.00 points from the paper" in inside["detail"]
    assert inside["interval"] == pytest.approx((0.22516, 0.27484), abs=1e-5)
    (outside,) = compare([claim], ROWS3, "full")
    assert outside["verdict"] == "differs"
    (straddles,) = compare([claim], ROWS3, "smoke")
    assert straddles["verdict"] == "inconclusive"
    (unchecked,) = compare([{**claim, "band": {}}], ROWS3, "quick")
    assert unchecked["verdict"] == "not checked"
    (missing,) = compare([{**claim, "where": {"optim.meta": 9.0}}], ROWS3, "quick")
    assert missing["verdict"] == "missing"


def test_two_metrics_of_the_same_runs_use_the_paired_interval():
    rows = [{"seed": s, "stamp": f"r{s}", "a": a, "b": b}
            for s, (a, b) in enumerate(((0.9, 0.3), (0.8, 0.25), (0.85, 0.2)))]
    # differences 0.6, 0.55, 0.65: mean 0.6, sd 0.05, half width 4.3027 * 0.05 / sqrt(3)
    (entry,) = compare([{"claim": "c", "source": "s", "metric": "a",
                         "versus": {"metric": "b", "margin": 0.45}}], rows, "quick")
    assert entry["method"] == "paired t" and entry["verdict"] == "match"
    assert entry["interval"] == pytest.approx((0.6 - 0.124208, 0.6 + 0.124208), abs=1e-5)


def test_select_max_min_and_the_summary_table_with_units():
    assert [r["w"] for r in select(ROWS, {"optim.meta": "max"})] == [3, 4]
    assert [r["w"] for r in select(ROWS, {"optim.meta": "min", "seed": 1})] == [2]
    table = summary_table(ROWS, ["optim.meta"], ["task_accuracy:0"])
    # mean 25, sample std of (20, 30) = 7.07
    assert table[0] == {"optim.meta": "0.0", "task_accuracy:0 (%)": "25.00 ± 7.07", "n": 2,
                        "code": "None"}
    bwt = summary_table([{"k": 1, "backward_transfer": -0.5472}], ["k"], ["backward_transfer"])
    assert bwt[0]["backward_transfer (points)"] == "-54.72 ± n/a"  # points, not a fraction


def test_metric_values_from_a_results_file():
    results = {"accuracy_matrix": [[0.9, 0.1], [0.5, 0.8]],
               "metrics": {"average_accuracy": 0.65},
               "hardware": {"energy_total_pj": {"inference": 6000.0},
                            "counts": {"inference": {"layers.0": {"samples": 3},
                                                     "layers.1": {"samples": 3}}}}}
    assert metric_value(results, "task_accuracy:0") == 0.5
    assert metric_value(results, "task_accuracy:-1") == 0.8
    assert metric_value(results, "R:0:1") == 0.1
    assert metric_value(results, "min_task_accuracy") == 0.5
    assert metric_value(results, "average_accuracy") == 0.65
    assert metric_value(results, "test_energy_nj_per_image") == pytest.approx(2.0)  # 6 nJ / 3
    assert metric_value(results, "R:5:0") is None and metric_value(results, "nope") is None


def test_the_docs_page_is_the_generators_output():
    page = REPO / "docs" / "reproductions.md"
    assert page.read_text() == build_docs(REPO / "docs"), (
        "docs/reproductions.md is stale: run `metabnn reproduce --docs`")
    for name in RECIPES:
        assert f"## {name}\n" in page.read_text()
    for summary in (REPO / "docs" / "reproductions").glob("*/summary.json"):
        body = json.loads(summary.read_text())
        assert body["recipe"] in RECIPES and body["comparison"]


@pytest.mark.slow
# biosignals reads MIT-BIH, which the shared data folder lacks: its recipe runs end to end on
# records written by wfdb in tests/test_biosignals.py::test_the_biosignals_recipe_runs_end_to_end
@pytest.mark.parametrize("name", [n for n in RECIPES if n != "biosignals"])
def test_every_recipe_runs_end_to_end_at_smoke_scale(name, data_root, tmp_path, capsys):
    assert main(["reproduce", name, "--scale", "smoke", "--out", str(tmp_path),
                 "--data-root", str(data_root), "--workers", "1", "--seeds", "2"]) == 0
    folder = tmp_path / "reproductions" / f"{name}-smoke"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["rows"] and summary["table"] and not summary["missing"]
    assert len(summary["comparison"]) == len(load_recipe(name).expected)
    assert all(e["verdict"] != "missing" for e in summary["comparison"])
    assert (folder / "figure.png").stat().st_size > 10_000
    assert "Comparison with the paper" in (folder / "report.md").read_text()


def test_a_recorded_reproduction_is_rebuilt_from_its_runs_files(data_root, tmp_path):
    """The page's numbers are recomputed from the committed results file of every run: same
    table and verdicts as the console report, and a changed file changes the page."""
    from metabnn.reproduce.docs import recorded
    from metabnn.reproduce.run import record, reproduce

    summary = reproduce("table1", scale="smoke", seeds=2, out=tmp_path / "runs",
                        data_root=str(data_root), device="cpu", log=lambda s: None)
    assert summary["provenance"]["runs"] == 8 and not summary["missing"]
    assert summary["call"]["seeds"] == [0, 1] and summary["call"]["elapsed_s"] is not None
    # the checkout under test may have uncommitted changes; recording needs a clean commit
    path = Path(summary["folder"]) / "summary.json"
    body = json.loads(path.read_text())
    body["provenance"]["commits"] = ["a" * 40]
    path.write_text(json.dumps(body))
    target = record(summary["folder"], docs=tmp_path / "docs")
    assert sorted(p.stem for p in (target / "runs").glob("*.json")) == sorted(
        r["stamp"] for r in summary["rows"])
    again = recorded(tmp_path / "docs", "table1", "smoke")
    assert again["table"] == summary["table"] and again["rows"] == summary["rows"]
    assert [e["verdict"] for e in again["comparison"]] == [
        e["verdict"] for e in summary["comparison"]]
    # made by this checkout's code: no flag; seen from other code: flagged as older code
    from metabnn.fingerprint import source_hash
    from metabnn.reproduce.assemble import render

    assert again["provenance"]["sources"] == [source_hash()]
    assert "Older code" not in render(again, current_sources=source_hash())
    flagged = render(again, current_sources="0" * 16)
    assert f"**⚠ Older code:** these runs were made by code whose sources ({source_hash()})" \
        in flagged and "--record` remakes them" in flagged
    # a run's file edited: the rebuilt table follows the files
    run = sorted((target / "runs").glob("*.json"))[0]
    data = json.loads(run.read_text())
    data["metrics"]["average_accuracy"] = 0.999
    run.write_text(json.dumps(data))
    assert recorded(tmp_path / "docs", "table1", "smoke")["table"] != summary["table"]
    # a run's file removed: the page says which planned run is missing
    run.unlink()
    assert len(recorded(tmp_path / "docs", "table1", "smoke")["missing"]) == 1


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s["provenance"]["fingerprints"].update({"bbbbbbbbbbbb": 1}),
     "runs made by 2 code fingerprints"),
    (lambda s: s.update(stale=["abc"]), "1 stale run(s) (made by other code)"),
    (lambda s: s.update(missing=["seed=2"]), "1 planned run(s) missing"),
    (lambda s: s["provenance"].update(commits=["a" * 40 + "-dirty"]),
     "runs made from uncommitted code"),
])
def test_record_refuses_what_cannot_be_cited(tmp_path, change, message):
    from metabnn.reproduce.run import record

    summary = {"recipe": "fig2", "scale": "quick", "missing": [], "stale": [], "files": [],
               "call": {}, "figure": None,
               "provenance": {"fingerprints": {"aaaaaaaaaaaa": 24}, "commits": ["a" * 40]}}
    change(summary)
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ConfigError, match=re.escape(message)):
        record(tmp_path, docs=tmp_path / "docs")
    assert not (tmp_path / "docs").exists()  # nothing written


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without GPU")
def test_full_scale_on_a_cpu_needs_an_explicit_device_and_says_how_long(data_root, capsys):
    assert main(["reproduce", "ber-tolerance", "--scale", "full", "--data-root",
                 str(data_root)]) == 2
    err = capsys.readouterr().err
    assert "is the paper's protocol, meant for a GPU, and no GPU is available" in err
    assert re.search(r"about \d+\.\d h of training \(\d[\d,]* steps at \d+ ms measured here\)",
                     err) and "pass --device cpu to run it here anyway" in err


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.0, "< 1 min"), (59.9, "< 1 min"), (60.0, "1 min"), (89.0, "1 min"), (2940.0, "49 min"),
])
def test_index_minutes_never_read_zero_for_a_short_recipe(seconds, shown):
    from metabnn.reproduce.docs import _minutes
    assert _minutes(seconds) == shown
