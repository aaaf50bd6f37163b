"""The README's example output is generated from the committed results of its own commands, by
the functions that make the command's output, with the current code: it cannot go stale."""

from __future__ import annotations

import json
from pathlib import Path

from metabnn.cli import build_parser, config_from_args, main
from metabnn.config import stamp
from metabnn.console import console_text
from metabnn.fingerprint import source_hash
from metabnn.leaderboard import check_results
from metabnn.reproduce.readme import (
    BEGIN,
    END,
    MAIN_JOB,
    MAIN_JOB_META0,
    example_block,
    main_job_argv,
)
from metabnn.runner import validate

REPO = Path(__file__).resolve().parents[1]


def _committed() -> tuple[dict, dict]:
    return (json.loads((REPO / MAIN_JOB).read_text()),
            json.loads((REPO / MAIN_JOB_META0).read_text()))


def test_the_readme_shows_the_generated_example():
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(BEGIN):readme.index(END) + len(END)]
    assert block == example_block(*_committed()), (
        "README.md's example output is stale: `metabnn reproduce --docs` rewrites it")


def test_the_example_files_are_what_the_readme_commands_make_with_this_code():
    readme = (REPO / "README.md").read_text()
    argv = main_job_argv(readme)
    main_job, meta0 = _committed()
    for results, extra in ((main_job, []), (meta0, ["--meta", "0"])):
        config = validate(config_from_args(build_parser().parse_args(["run", *argv, *extra])))
        assert results["stamp"] == stamp(config), (
            f"docs/examples: {results['stamp']} is not the stamp of `metabnn run "
            f"{' '.join(argv + extra)}` ({stamp(config)}): rerun it and copy its results.json")
        assert results["fingerprint"]["sources"] == source_hash(), (
            "docs/examples: made by other code than this checkout's: rerun the README's "
            "commands, copy their results.json files and run `metabnn reproduce --docs`")
        assert check_results(results) == []


def test_the_generator_renders_exactly_what_the_command_prints(data_root, tmp_path, capsys):
    argv = ["run", "--stream", "pmnist", "--tasks", "2", "--hidden", "16", "--epochs", "1",
            "--train-per-task", "300", "--test-per-task", "200", "--data-root", str(data_root),
            "--out", str(tmp_path), "--no-progress", "--wandb", "disabled"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    (path,) = tmp_path.glob("*/results.json")
    results = json.loads(path.read_text())
    assert printed == console_text(results, str(path)) + "\n"
