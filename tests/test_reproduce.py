"""Paper reproductions: recipes validate against the sweep schema, claims are judged by hand-
checkable rules, the docs page is the generator's output, and (slow) every recipe runs end to
end at the smoke scale on real MNIST / Fashion-MNIST."""

from __future__ import annotations

import json
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
NINE = ["fig2", "table1", "fig3-width", "mnist-fmnist", "stream-fmnist", "ber-tolerance",
        "mram-ber", "stochastic-inputs", "ternary"]


def test_the_nine_recipes_of_the_issue_are_bundled_in_order():
    assert recipe_names() == NINE


@pytest.mark.parametrize("name", NINE)
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


def test_list_prints_the_nine_recipes_with_both_protocols(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for name in NINE:
        assert f"\n{name}  —  " in f"\n{out}"
    assert out.count("    quick (") == 9 and out.count("    full  (") == 9
    assert "784-4096-4096-10 BNN" in out


ROWS = [  # two seeds of two values of m
    {"optim.meta": 0.0, "seed": 0, "task_accuracy:0": 0.20, "w": 1},
    {"optim.meta": 0.0, "seed": 1, "task_accuracy:0": 0.30, "w": 2},
    {"optim.meta": 1.35, "seed": 0, "task_accuracy:0": 0.60, "w": 3},
    {"optim.meta": 1.35, "seed": 1, "task_accuracy:0": 0.70, "w": 4},
]


def test_versus_claims_compare_means_over_seeds_against_the_margin():
    claim = {"claim": "c", "source": "s", "metric": "task_accuracy:0",
             "where": {"optim.meta": 1.35}, "versus": {"where": {"optim.meta": 0.0}}}
    # mean 0.65 vs mean 0.25: a gap of 40 points
    (ok,) = compare([{**claim, "versus": {**claim["versus"], "margin": 0.4}}], ROWS, "quick")
    assert ok["verdict"] == "match" and ok["ours"] == pytest.approx(0.65) and ok["n"] == 2
    (no,) = compare([{**claim, "versus": {**claim["versus"], "margin": 0.41}}], ROWS, "quick")
    assert no["verdict"] == "differs" and "+40.00 points" in no["detail"]


def test_band_claims_per_scale_and_the_distance_from_the_paper():
    claim = {"claim": "c", "source": "s", "metric": "task_accuracy:0", "paper": 0.97,
             "where": {"optim.meta": 0.0}, "band": {"quick": [0.2, 0.3], "full": [0.9, 1]}}
    (inside,) = compare([claim], ROWS, "quick")  # 0.25 in [0.2, 0.3]
    assert inside["verdict"] == "match" and "-72.00 points from the paper" in inside["detail"]
    (outside,) = compare([claim], ROWS, "full")  # 0.25 below 0.9 by 65 points
    assert outside["verdict"] == "differs" and "outside by -65.00 points" in outside["detail"]
    (unchecked,) = compare([claim], ROWS, "smoke")
    assert unchecked["verdict"] == "not checked"
    (missing,) = compare([{**claim, "where": {"optim.meta": 9.0}}], ROWS, "quick")
    assert missing["verdict"] == "missing"


def test_select_max_min_and_the_summary_table():
    assert [r["w"] for r in select(ROWS, {"optim.meta": "max"})] == [3, 4]
    assert [r["w"] for r in select(ROWS, {"optim.meta": "min", "seed": 1})] == [2]
    table = summary_table(ROWS, ["optim.meta"], ["task_accuracy:0"])
    # mean 25, sample std of (20, 30) = 7.07
    assert table[0] == {"optim.meta": "0.0", "task_accuracy:0": "25.00 ± 7.07", "n": 2}


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
    for name in NINE:
        assert f"## {name}\n" in page.read_text()
    for summary in (REPO / "docs" / "reproductions").glob("*/summary.json"):
        body = json.loads(summary.read_text())
        assert body["recipe"] in NINE and body["comparison"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NINE)
def test_every_recipe_runs_end_to_end_at_smoke_scale(name, data_root, tmp_path, capsys):
    assert main(["reproduce", name, "--scale", "smoke", "--out", str(tmp_path),
                 "--data-root", str(data_root), "--workers", "1"]) == 0
    folder = tmp_path / "reproductions" / f"{name}-smoke"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["rows"] > 0 and summary["table"]
    assert len(summary["comparison"]) == len(load_recipe(name).expected)
    assert all(e["verdict"] != "missing" for e in summary["comparison"])
    assert (folder / "figure.png").stat().st_size > 10_000
    assert "Comparison with the paper" in (folder / "report.md").read_text()
